"""A real Kubernetes control plane and real Cilium processes for the lab, without containers.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (which plays the kubelets:
it marks Nodes Ready and Pods Running) run as plain processes in a network namespace; the Cilium
operator runs beside them from the ``cilium-config`` ConfigMap, as the Helm release's Deployment
would. The binaries come from ``scripts/install-cluster`` (built from Go modules, cached); see
``docs/cluster-lab.md``.
"""
