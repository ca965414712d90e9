"""The end-to-end demo: a scenario of uploads and the runner that drives it on the local stack."""
