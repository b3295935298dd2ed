"""``promptlab serve``: the REST API applications call, as a FastAPI application over the same services
(the optional extra ``serve``). Build it with ``promptlab_nb.api.app_factory.create_app``."""
