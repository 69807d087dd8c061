"""The model registry: versions of the classifier, which one serves, promote and roll back.

One module per concept:
- `models`: a registered version (name, version, source, training data and parameters, metrics, status);
- `pointer`: the serving version in Redis, which every worker reads between jobs (`classifier.worker`);
- `services`: register, promote and roll back, staff only and audited;
- `views`: the registry's part of the Models page and its confirm pages.

A version's id, `<name>@<version>`, is what its results carry as `model`, so each result names the
exact version and each version has its own evaluation (`dashboard.labels`).
"""
