import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { loadApiserverAuth, type ApiserverAuth, type Env } from '@crtrail/config';
import { CliError } from '../errors.js';

/** How the webhook is reached and authenticated, as far as the apiserver's kubeconfig is concerned. */
export interface KubeconfigAuth {
  /** The webhook serves HTTPS: the file the apiserver should trust, or undefined when it is not known here. */
  tls?: { certificateAuthority: string | undefined };
  /** CRTRAIL_TLS_CLIENT_CA is set: the apiserver must present a client certificate. */
  clientCertificate?: boolean;
  /** CRTRAIL_AUTH_TOKENS_FILE is set: the apiserver must send a bearer token. */
  bearerToken?: boolean;
}

function isIssuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/**
 * The file kube-apiserver should trust for the webhook's certificate: the certificate itself when it
 * is self-signed (Go accepts a self-signed leaf that is in the root pool), the client CA when that CA
 * also signed the server certificate (one private CA for both), else undefined (a public or other CA).
 */
export function serverCertificateAuthority(certFile: string, clientCaFile?: string): string | undefined {
  const cert = new X509Certificate(readFileSync(certFile));
  if (isIssuedBy(cert, cert)) return resolve(certFile);
  if (clientCaFile) {
    const ca = new X509Certificate(readFileSync(clientCaFile));
    if (isIssuedBy(cert, ca)) return resolve(clientCaFile);
  }
  return undefined;
}

/**
 * The kubeconfig kube-apiserver takes in `--audit-webhook-config-file`: its `server` is where the
 * audit batches are POSTed. Without credentials the path names the cluster; with a client certificate
 * or a token the credential names it (a path naming another cluster would be a 403), so the URL is
 * plain `/audit`. Credentials are placeholders: crtrail does not hold the apiserver's client key,
 * and copying a token into a file nobody asked for would leave a secret lying around.
 */
export function webhookKubeconfig(serverUrl: string, cluster: string, auth: KubeconfigAuth = {}): string {
  const credentialNamesCluster = auth.clientCertificate === true || auth.bearerToken === true;
  const clusterLines: string[] = [];
  if (auth.tls) {
    if (auth.tls.certificateAuthority) {
      clusterLines.push(`      certificate-authority: ${auth.tls.certificateAuthority}`);
    } else {
      clusterLines.push(
        '      # the CA that signed CRTRAIL_TLS_CERT; leave out if it is publicly trusted',
        '      # certificate-authority: /path/to/ca.crt',
      );
    }
  }
  const userLines: string[] = [];
  if (auth.clientCertificate) {
    userLines.push(
      `      # mTLS: a certificate signed by CRTRAIL_TLS_CLIENT_CA whose subject CN is the cluster name (e.g. CN=${cluster})`,
      '      client-certificate: "<path of the client certificate, CN=<cluster>>"',
      '      client-key: "<path of its private key>"',
    );
  }
  if (auth.bearerToken) {
    userLines.push(
      '      # the token of this cluster\'s line in CRTRAIL_AUTH_TOKENS_FILE ("<token> <cluster>"),',
      '      # or `tokenFile: <file holding only the token>` instead, to keep it out of this file',
      '      token: "<token for this cluster from CRTRAIL_AUTH_TOKENS_FILE>"',
    );
  }
  return [
    '# kube-apiserver --audit-webhook-config-file=<this file>',
    '# written by crtrail (`crtrail up` or `crtrail kubeconfig`); the cluster these events come from is named by ' +
      (credentialNamesCluster ? "the apiserver's credential (client certificate CN or token)" : 'the path of the URL'),
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: crtrail',
    '    cluster:',
    `      server: ${serverUrl}/audit${credentialNamesCluster ? '' : `/${cluster}`}`,
    ...clusterLines,
    'contexts:',
    '  - name: crtrail',
    '    context:',
    '      cluster: crtrail',
    '      user: kube-apiserver',
    'current-context: crtrail',
    'users:',
    '  - name: kube-apiserver',
    ...(userLines.length > 0 ? ['    user:', ...userLines] : ['    user: {}']),
    '',
  ].join('\n');
}

/** The URL an apiserver dials for a webhook listening at `listeningUrl`. */
export function reachableUrl(env: Pick<Env, 'CRTRAIL_PUBLIC_URL'>, listeningUrl: string): string {
  if (env.CRTRAIL_PUBLIC_URL) return env.CRTRAIL_PUBLIC_URL.replace(/\/+$/, '');
  const url = new URL(listeningUrl);
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = hostname();
  return url.toString().replace(/\/+$/, '');
}

/** The kubeconfig for the webhook at `serverUrl`, with the auth mode `env` configures. */
export function kubeconfigFor(
  env: Env,
  serverUrl: string,
  auth: ApiserverAuth | undefined,
  cluster = env.CRTRAIL_CLUSTER,
): string {
  return webhookKubeconfig(serverUrl, cluster, {
    ...(env.CRTRAIL_TLS_CERT
      ? { tls: { certificateAuthority: serverCertificateAuthority(env.CRTRAIL_TLS_CERT, env.CRTRAIL_TLS_CLIENT_CA) } }
      : {}),
    clientCertificate: Boolean(env.CRTRAIL_TLS_CLIENT_CA),
    bearerToken: Boolean(auth?.tokens),
  });
}

/**
 * `crtrail kubeconfig`: the kubeconfig for a webhook that runs elsewhere, at `server` (a base URL, or
 * one ending in `/audit[/<cluster>]` as an older kubeconfig has it), with the auth `env` gives the webhook.
 */
export function apiserverKubeconfig(env: Env, server: string | undefined, cluster: string): string {
  if (!server)
    throw new CliError(
      '--server is required (or set CRTRAIL_PUBLIC_URL): the address kube-apiserver uses to reach the webhook',
    );
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CliError(`--server ${JSON.stringify(server)} is not a URL (e.g. https://crtrail.example.internal:8443)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`--server ${server}: use http:// or https://`);
  if (env.CRTRAIL_TLS_CERT && url.protocol !== 'https:')
    throw new CliError(`--server ${server}: the webhook serves HTTPS (CRTRAIL_TLS_CERT is set): use https://`);
  const base = url
    .toString()
    .replace(/\/+$/, '')
    .replace(/\/audit(\/[^/]*)?$/, '');
  return kubeconfigFor(env, base, loadApiserverAuth(env), cluster);
}
