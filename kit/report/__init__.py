"""The study report: pure summaries (`summaries`), HTML from a template (`html`), every figure (`plots`)."""
