/**
 * The kubeconfig kube-apiserver takes in `--audit-webhook-config-file`: its `server` is where the
 * audit batches are POSTed (the path names the cluster).
 */
export function webhookKubeconfig(serverUrl: string, cluster: string): string {
  return [
    '# kube-apiserver --audit-webhook-config-file=<this file>',
    '# written by `crtrail up`; the path of the URL names the cluster these events come from',
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: crtrail',
    '    cluster:',
    `      server: ${serverUrl}/audit/${cluster}`,
    'contexts:',
    '  - name: crtrail',
    '    context:',
    '      cluster: crtrail',
    '      user: kube-apiserver',
    'current-context: crtrail',
    'users:',
    '  - name: kube-apiserver',
    '    user: {}',
    '',
  ].join('\n');
}
