"""crm-ethics-kit: measure what customer segmentation earns against what it costs in privacy and fairness.

The data flow, one module per stage:
params -> population -> segmenters -> targeting -> measures -> experiment (one run)
-> study (many runs through papermill) -> report (HTML); plots draws the figures; cli is `crmkit`.
"""

__version__ = "0.1.0"
