import type { ConfigInput } from './schema.js';

/**
 * Built-in knowledge, in data rather than code: known tools, GitOps managers, critical fields of
 * common CRDs and Secret-like kinds. A user's file is merged over it (lists are appended).
 */
export const DEFAULTS: ConfigInput = {
  actors: {
    tools: [
      { tool: 'kubectl-edit', manager: '^kubectl-edit$' },
      { tool: 'kubectl-patch', manager: '^kubectl-patch$' },
      { tool: 'kubectl-client-side-apply', manager: '^kubectl-client-side-apply$' },
      { tool: 'kubectl-create', manager: '^kubectl-create$' },
      { tool: 'kubectl-replace', manager: '^kubectl-replace$' },
      { tool: 'kubectl-label', manager: '^kubectl-label$' },
      { tool: 'kubectl-annotate', manager: '^kubectl-annotate$' },
      { tool: 'kubectl-scale', manager: '^kubectl-scale$' },
      { tool: 'kubectl', manager: '^kubectl$' },
      { tool: 'argocd', userAgent: '^argocd-(application-controller|server|applicationset-controller)/' },
      { tool: 'argocd', manager: '^argocd-controller$' },
      { tool: 'flux', userAgent: '^(kustomize|helm|source|notification|image-automation)-controller/' },
      { tool: 'kustomize-controller', manager: '^kustomize-controller$' },
      { tool: 'cert-manager', userAgent: '^cert-manager(-[a-z0-9-]+)?/' },
      { tool: 'cert-manager', manager: '^cert-manager(-[a-z0-9-]+)?$' },
      { tool: 'helm', userAgent: '^Helm/' },
      { tool: 'helm', manager: '^helm$' },
      { tool: 'terraform', userAgent: '^(HashiCorp|Terraform)' },
      { tool: 'oc', userAgent: '^oc/' },
      { tool: 'k9s', userAgent: '^k9s/' },
      { tool: 'lens', userAgent: '^(Lens|OpenLens)' },
      { tool: 'kubeadm', userAgent: '^kubeadm/' },
      { tool: 'kubectl', userAgent: '^kubectl(\\.exe)?/' },
      { tool: 'python-client', userAgent: '^OpenAPI-Generator/.*/python' },
      { tool: 'go-client', userAgent: '^Go-http-client/' },
      { tool: 'kubelet', userAgent: '^kubelet/' },
      { tool: 'kube-controller-manager', userAgent: '^kube-controller-manager/' },
      { tool: 'kube-scheduler', userAgent: '^kube-scheduler/' },
      { tool: 'kube-apiserver', userAgent: '^kube-apiserver/' },
    ],
    controllers: [],
    gitops: [
      {
        name: 'argocd',
        userAgent: '^argocd-(application-controller|applicationset-controller)/',
        manager: '^argocd-(controller|application-controller)$',
        username: '^system:serviceaccount:[^:]+:argocd-application-controller$',
      },
      {
        name: 'flux',
        userAgent: '^(kustomize|helm)-controller/',
        manager: '^(kustomize|helm)-controller$',
        username: '^system:serviceaccount:flux-system:(kustomize|helm)-controller$',
      },
    ],
    interactive: ['^kubectl(\\.exe)?/', '^oc/', '^k9s/', '^(Lens|OpenLens)', '^Mozilla/'],
  },
  critical: [
    {
      group: 'argoproj.io',
      kind: 'Application',
      paths: ['spec.source', 'spec.sources', 'spec.destination', 'spec.syncPolicy', 'spec.project'],
    },
    {
      group: 'argoproj.io',
      kind: 'AppProject',
      paths: ['spec.destinations', 'spec.sourceRepos', 'spec.clusterResourceWhitelist'],
    },
    { group: 'cert-manager.io', kind: 'Certificate', paths: ['spec.dnsNames', 'spec.issuerRef', 'spec.secretName'] },
    { group: 'cert-manager.io', kind: 'ClusterIssuer', paths: ['spec'] },
    { group: 'security.istio.io', kind: 'AuthorizationPolicy', paths: ['spec'] },
    { group: 'security.istio.io', kind: 'PeerAuthentication', paths: ['spec.mtls'] },
    { group: 'networking.istio.io', kind: 'VirtualService', paths: ['spec.http', 'spec.hosts'] },
    { group: 'monitoring.coreos.com', kind: 'PrometheusRule', paths: ['spec.groups'] },
    { group: 'monitoring.coreos.com', kind: 'Alertmanager', paths: ['spec'] },
    {
      group: 'serving.kserve.io',
      kind: 'InferenceService',
      paths: ['spec.predictor.model.storageUri', 'spec.predictor.model.runtime', 'spec.predictor.model.modelFormat'],
    },
    {
      group: 'kustomize.toolkit.fluxcd.io',
      kind: 'Kustomization',
      paths: ['spec.sourceRef', 'spec.path', 'spec.suspend'],
    },
    {
      group: 'apiextensions.k8s.io',
      resource: 'customresourcedefinitions',
      paths: ['spec.versions', 'spec.conversion'],
    },
  ],
  redaction: {
    paths: [{ group: 'bitnami.com', kind: 'SealedSecret', paths: ['spec.encryptedData'] }],
    secretLikeKinds: ['Secret$'],
  },
};
