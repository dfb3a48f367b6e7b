"""blurmap.registry.Registry: registration, lookup errors, and the two registries built on it."""

import pytest

from blurmap.errors import ConfigError
from blurmap.models import MODEL_REGISTRY, available_models, build_model
from blurmap.registry import Registry
from blurmap.train.recipe import available_recipes, get_recipe


def test_register_sets_the_name_and_refuses_a_second_class():
    reg = Registry("widget", "blurmap.models", attribute="widget_name", error=LookupError, known="widgets")

    @reg.register("a")
    class A:
        pass

    assert A.widget_name == "a" and reg["a"] is A and "a" in reg and list(reg) == ["a"]
    assert reg.register("a")(A) is A  # the same class again is harmless
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(type("B", (), {}))
    with pytest.raises(LookupError, match=r"unknown widget 'zz'; widgets: a"):
        reg.get("zz")


def test_model_and_recipe_registries_find_every_module():
    assert {"bladenet", "defocusgan", "defocus_map_net"} <= set(available_models())
    assert build_model("bladenet", width=4).registry_name == "bladenet"
    assert "bladenet" in MODEL_REGISTRY
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build_model("nope")
    assert {"bladenet", "defocusgan"} <= set(available_recipes())
    assert get_recipe("bladenet").name == "bladenet"
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; known recipes: "):
        get_recipe("nope")
