"""CLI command modules: each module defines ``register(app: typer.Typer) -> None``.

Why one module per area: commands stay next to the area they drive and import their heavy dependencies (pyspark,
torch, mlflow) inside the command body, so ``coldrec --help`` stays fast.
"""
