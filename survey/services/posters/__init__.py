"""QR posters for desks: what to print and for whom (``content``), the QR symbol of a desk link
(``qr``), and drawing the posters into a PDF (``pdf``).
"""
