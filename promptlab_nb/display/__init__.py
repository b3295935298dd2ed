"""HTML and text formatting shared by the notebook, the report and the CLI: plain functions of plain data."""
