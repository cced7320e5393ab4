import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Minimal openssl config, so the certificates do not depend on the machine's openssl.cnf: a CA that
// may sign, a server certificate valid for 127.0.0.1/localhost, client certificates for clientAuth.
const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

export interface KeyPair {
  cert: string;
  key: string;
}

/** A throw-away PKI in a temporary directory, made with the `openssl` CLI; `remove()` deletes it. */
export interface TestPki {
  dir: string;
  ca: KeyPair;
  server: KeyPair;
  /** Signed by `ca`, subject CN as given to {@link TestPki.client}. */
  client(cn: string): KeyPair;
  /** A second CA nobody trusts, and a client certificate from it. */
  otherCa: KeyPair;
  otherClient: KeyPair;
  read(path: string): Buffer;
  remove(): void;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'crtrail-pki-'));
  const cnf = join(dir, 'openssl.cnf');
  writeFileSync(cnf, OPENSSL_CNF);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  const makeCa = (name: string): KeyPair => {
    const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    openssl(
      'req',
      '-x509',
      '-config',
      cnf,
      '-extensions',
      'ca_ext',
      ...ecKey,
      '-keyout',
      pair.key,
      '-out',
      pair.cert,
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
    );
    return pair;
  };
  const makeLeaf = (name: string, subject: string, ca: KeyPair, extensions: string): KeyPair => {
    const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    const csr = join(dir, `${name}.csr`);
    openssl('req', '-new', '-config', cnf, ...ecKey, '-keyout', pair.key, '-out', csr, '-subj', subject);
    openssl(
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-out',
      pair.cert,
      '-days',
      '2',
      '-extfile',
      cnf,
      '-extensions',
      extensions,
    );
    return pair;
  };

  const ca = makeCa('test-ca');
  const otherCa = makeCa('other-ca');
  return {
    dir,
    ca,
    server: makeLeaf('server', '/CN=localhost', ca, 'server_ext'),
    client: (cn) => makeLeaf(`client-${cn}`, `/CN=${cn}`, ca, 'client_ext'),
    otherCa,
    otherClient: makeLeaf('other-client', '/CN=prod-eu', otherCa, 'client_ext'),
    read: (path) => readFileSync(path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
