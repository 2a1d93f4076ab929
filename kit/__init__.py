"""crm-ethics-kit: measure what customer segmentation earns against what it costs in privacy and fairness.

The data flow, one layer per stage, each importing only from those before it:
vocabulary, records, params -> population -> features -> measures -> segmenters -> targeting
-> run (one run end to end) -> study (study files, sweeps) -> report (summaries, HTML, plots)
-> execution (papermill runner, warm kernels) -> cli (`crmkit`).
"""

__version__ = "0.1.0"
