// One flat config for the whole repository: typescript-eslint's strict rules, and the dependency rule
// of the layout (packages → packages; services → packages; tools → packages; never the other way).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Pure packages: logic without I/O, so never the Redis or Elasticsearch ones. */
const PURE = ['audit', 'filter', 'config', 'diff', 'enrich', 'integrity'];
const IO = ['@crtrail/state', '@crtrail/store', '@crtrail/queue'];
const SERVICES = ['webhook', 'worker', 'cli'];
const TOOLS = ['@crtrail/stack', '@crtrail/testkit'];
/** The one composition root that starts the webhook and the worker (wherever the CLI split puts it). */
const UP = ['services/cli/src/up.ts', 'services/cli/src/ops/up.ts'];

const service = (name) => `@crtrail/${name}`;

/**
 * The non-null policy. With `noUncheckedIndexedAccess` every element read (`rows[i]`, `match[1]`,
 * `UNIT_MS[unit]`) is `T | undefined`, and the codebase's idiom after the bounds check, the regex or
 * the lookup table that guarantees it is `rows[i]!`: a runtime check there could never fail. So `!` is
 * allowed directly on an element access and nowhere else in product code, where it would stand for a
 * missing narrowing (`opts.cluster!`, `map.get(k)!`): narrow, use `?.`, or throw a real error.
 * typescript-eslint's `no-non-null-assertion` has no such option, hence this small rule in its place.
 */
const nonNullOnlyOnElementAccess = {
  meta: {
    type: 'problem',
    docs: { description: 'allow `!` only on an element access (noUncheckedIndexedAccess)' },
    messages: {
      nonNull: '`!` is for element reads only (`xs[i]!`); narrow this value with a check, `?.` or a thrown error',
    },
    schema: [],
  },
  create: (context) => ({
    TSNonNullExpression(node) {
      const target = node.expression;
      if (target.type === 'MemberExpression' && target.computed) return;
      context.report({ node, messageId: 'nonNull' });
    },
  }),
};
/** Relative paths that reach into another workspace's folder, which a package name would hide. */
const intoFolder = (folder) => [`../**/${folder}/*`, `../${folder}/*`];

/**
 * `no-restricted-imports` (static imports and re-exports, `import type` included) plus a
 * `no-restricted-syntax` twin for `import()`, which the former does not see. Each block below lists
 * everything its files may not import, since a later block replaces an earlier one's options.
 */
function forbid(files, { names = [], folders = [], why }) {
  const message = `${why} (the dependency rule: see "Where things go" in the developers' guide)`;
  const dynamic = names.map((n) => n.replace(/[/@.-]/g, (c) => `\\${c}`)).join('|');
  return {
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: names.map((name) => ({ name, message })),
          patterns: [
            ...(names.length ? [{ group: names.map((n) => `${n}/*`), message }] : []),
            ...(folders.length ? [{ group: folders.flatMap(intoFolder), message }] : []),
          ],
        },
      ],
      'no-restricted-syntax': dynamic
        ? ['error', { selector: `ImportExpression[source.value=/^(${dynamic})(\\u002F|$)/]`, message }]
        : 'off',
    },
  };
}

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '.cache/**', '.crtrail/**', 'coverage/**', 'bench/results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    plugins: { crtrail: { rules: { 'non-null-only-on-element-access': nonNullOnlyOnElementAccess } } },
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'crtrail/non-null-only-on-element-access': 'error',
      // `_`-prefixed names are deliberately unused (a callback's leading parameters).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  // Tests and benches: `!` is an assertion there (`records.find(…)!`, `child.pid!`): when it is wrong
  // the test fails on the spot with a TypeError, which an `assert.ok` guard in front of each would
  // only restate. The rest of the strict set holds for them as for product code.
  {
    files: ['test/**', 'bench/**', '{packages,services,tools}/*/test/**'],
    rules: { 'crtrail/non-null-only-on-element-access': 'off' },
  },
  // Every package: no service, no tooling (their tests may use the testkit); later blocks narrow it.
  forbid(['packages/*/src/**'], {
    names: [...SERVICES.map(service), ...TOOLS],
    folders: ['services', 'tools'],
    why: 'a package imports no service and no tool',
  }),
  forbid(['packages/*/test/**'], {
    names: SERVICES.map(service),
    folders: ['services'],
    why: 'a package imports no service',
  }),
  // Pure packages: besides, no Redis/Elasticsearch package (alerts could join once its sinks settle).
  forbid(
    PURE.map((p) => `packages/${p}/src/**`),
    {
      names: [...IO, ...SERVICES.map(service), ...TOOLS],
      folders: ['services', 'tools'],
      why: 'a pure package imports no I/O package, no service and no tool',
    },
  ),
  // State is Redis only: what joins Redis and Elasticsearch (dead-letter replay, the salt check) is composed in a service.
  forbid(['packages/state/src/**'], {
    names: ['@crtrail/store', ...SERVICES.map(service), ...TOOLS],
    folders: ['services', 'tools'],
    why: 'the state package holds Redis state only: no Elasticsearch package, no service and no tool',
  }),
  // Services are composition roots: never each other, never the tooling (their tests may use it).
  ...SERVICES.map((name) =>
    forbid([`services/${name}/src/**`], {
      names: [...SERVICES.filter((s) => s !== name).map(service), ...TOOLS],
      folders: ['tools'],
      why: 'a service imports no other service and no tool',
    }),
  ),
  ...SERVICES.map((name) =>
    forbid([`services/${name}/test/**`], {
      names: SERVICES.filter((s) => s !== name).map(service),
      why: 'a service imports no other service',
    }),
  ),
  // `crtrail up` starts the webhook and the worker, and loads the stack only where it starts Redis or
  // Elasticsearch: a dynamic `import('@crtrail/stack')`, never a static one (so not for --*-only).
  {
    files: UP,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@crtrail/stack',
              allowTypeImports: true,
              message: 'load the stack with `await import()` where it starts Redis or Elasticsearch',
            },
            { name: '@crtrail/testkit', message: 'the testkit is for tests' },
          ],
        },
      ],
      'no-restricted-syntax': 'off',
    },
  },
  // Tools serve the packages and services (dev, tests): they may import packages, never a service.
  forbid(['tools/**'], {
    names: SERVICES.map(service),
    folders: ['services'],
    why: 'a tool imports packages, never a service',
  }),
);
