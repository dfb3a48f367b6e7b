"""Training recipes, one module per method; each registers itself with
:func:`blurmap.train.recipe.register_recipe` and is found by name (``recipe: <name>``)."""
