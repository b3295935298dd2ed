from alembic import context

from promptlab_nb.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=False)
with context.begin_transaction():
    context.run_migrations()
