"""The Mendix layer on the EKS cluster: the Operator's install Job, its storage,
database and registry plans, and the app namespace's network policies."""
