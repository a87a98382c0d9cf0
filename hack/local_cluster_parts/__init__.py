"""The parts of ``hack/local-cluster``, one module per component or concern.

``hack/local_cluster.py`` is their public face: tests, benches and the demo import
``local_cluster``, never these modules. From the bottom up:

- ``reporting``: ``ClusterError``, log lines, step timings, running a command;
- ``gomod`` and ``build``: the generated Go build modules and the version-keyed binary cache;
- ``pki``: the openssl-made PKI and kubeconfigs; ``api``: a tiny API client;
- ``processes``: starting, waiting for and stopping processes, and ``State`` (state.json);
- ``crds``: installing the Gateway API, project and other CRDs;
- ``control_plane``: etcd, kube-apiserver, kube-controller-manager;
- ``cert_manager``: cert-manager's controllers and CRDs; ``traefik``: the data plane;
- ``options`` and ``cluster``: ``ClusterOptions``, ``up``, ``down``, ``status``;
- ``cli``: the command line.
"""
