"""The search page (``calibclip serve``): FastAPI app over ``calibclip.search.Searcher``."""
