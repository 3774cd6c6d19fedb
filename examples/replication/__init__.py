"""The pieces of `examples/replicate.py`, one idea each; each imports only
the ones above it:

- `parts`: what each part of the comparison runs (its example, methods,
  frozen options, metric and the paper's numbers).
- `runs`: where every saved JSON lives, and the seed runs that write them.
- `tuning`: the same number of random-search trials for every method, and
  each method's frozen best setting.
- `report`: docs/results.md, written from the saved runs.
"""
