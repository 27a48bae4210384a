"""Parse backbone spec strings: ``tiny``, ``openclip:ViT-B-16:openai``, ``hf:/path``, ..."""
from __future__ import annotations

from calibclip.errors import SpecError
from calibclip.types import BackboneSpec

# family -> (needs an arch field, help text shown on error)
_FORMS = {
    "tiny": (False, "tiny[:/path/to/tiny.pt] | tiny-web"),
    "openclip": (True, "openclip:ARCH:TAG|/path/weights|none  e.g. openclip:ViT-B-16:openai"),
    "hf": (False, "hf:/local/dir|hub-id  e.g. hf:openai/clip-vit-base-patch16"),
    "cnclip": (True, "cnclip:ViT-B-16[:/path/weights.pt|none]"),
    "longclip": (True, "longclip:ViT-B-16:/path/longclip-B.pt|none"),
    "fgclip": (False, "fgclip:/local/dir|hub-id"),
    "planted": (False, "planted:tiny[:/path/to/tiny.pt|none]  (the calibration positive control)"),
}


# bundled demonstration checkpoints of the tiny family: spec name -> file in calibclip/assets
BUNDLED_TINY = {"tiny": "tiny.pt", "tiny-web": "tiny-web.pt"}


def spec_forms() -> list[str]:
    """Human-readable accepted forms, for help texts and error hints."""
    return [form for _, form in _FORMS.values()]


def parse_spec(spec: str) -> BackboneSpec:
    """Split a spec string into family, arch and weights.

    Weights may be a path containing ':' only after the arch field, so
    ``openclip:ViT-B-16:/data/w.bin`` and ``hf:C:/models/clip`` both parse.
    """
    text = (spec or "").strip()
    if not text:
        raise SpecError("empty backbone spec", "use e.g. 'tiny' or 'openclip:ViT-B-16:openai'")
    family, _, rest = text.partition(":")
    family = family.lower()
    if family in BUNDLED_TINY and family != "tiny":
        if rest:
            raise SpecError(f"{family!r} is a bundled model and takes no weights: {spec!r}",
                            "use tiny:/path/to/ckpt.pt for another checkpoint")
        return BackboneSpec(family="tiny", arch=family, weights=None, raw=text)
    if family not in _FORMS:
        raise SpecError(f"unknown backbone family {family!r} in spec {spec!r}",
                        "accepted: " + "; ".join(spec_forms()))
    needs_arch, form = _FORMS[family]
    if not needs_arch:
        return BackboneSpec(family=family, arch=None, weights=rest or None, raw=text)
    arch, _, weights = rest.partition(":")
    if not arch:
        raise SpecError(f"backbone spec {spec!r} names no architecture", f"expected {form}")
    return BackboneSpec(family=family, arch=arch, weights=weights or None, raw=text)
