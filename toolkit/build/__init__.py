"""Building: profiles of built models (parameters, MACs, weight bytes, activation memory, per layer), the cached
rows of `edgebb list`, and the edgebb metadata a saved model carries (`meta`). The backbones themselves are
`edgebb.models`."""
