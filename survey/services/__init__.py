"""What the product does, as small typed functions. They flush; the request or command commits."""
