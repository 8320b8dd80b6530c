"""What leaves the product for analysts: response-level data with its design variables and
weights (``microdata``: CSV, XLSX, SPSS, Stata, SPEC.json), the index tables (``index_tables``),
and what the JSON API reads (``api_data``), each limited to what the reader may see.
"""
