"""The paper's theory (appendix A.3-A.5, section 5.1): numbers in `compute`, figures in
`figures`; no run directory is read."""
