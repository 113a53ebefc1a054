"""Allow-lists for attributes, URLs and CSS (docs/content-model.md §5).

Every value that enters the model — from pasted HTML, from the SDK, or from a
collaborator's Yjs document — goes through these functions; nothing else decides what is
safe. The JavaScript twin is ``clients/tinymce/src/content/sanitize.js``; both read
schema.json and must agree value for value (tests/vectors/content.json).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tandem.client.content.jscompat import (
    JS_SPACE,
    js_regex,
    js_sorted,
    js_split_space,
    u16len,
)
from tandem.client.content.schema import SCHEMA

GLOBAL_ATTRS = frozenset(SCHEMA["global_attributes"])
ELEMENT_ATTRS = {tag: frozenset(names) for tag, names in SCHEMA["element_attributes"].items()}
URL_ATTRS = frozenset(SCHEMA["url_attributes"])
URL_LIST_ATTRS = frozenset(SCHEMA["url_list_attributes"])
SAFE_SCHEMES = frozenset(SCHEMA["safe_schemes"])
IMAGE_TYPES = frozenset(SCHEMA["image_data_types"])
IMAGE_DATA_ATTRS = {tag: frozenset(a) for tag, a in SCHEMA["image_data_attributes"].items()}
ENUMS = {name: frozenset(values) for name, values in SCHEMA["enumerated_attributes"].items()}
BOOLEANS = frozenset(SCHEMA["boolean_attributes"])
CSS_PROPERTIES = frozenset(SCHEMA["css_properties"])
CSS_DISPLAY = frozenset(SCHEMA["css_display_values"])
CSS_FORBIDDEN: tuple[str, ...] = tuple(SCHEMA["css_forbidden"])
CLOBBER_NAMES = frozenset(SCHEMA["clobber_names"])
IFRAME_HOSTS = frozenset(SCHEMA["iframe"]["hosts"])
IFRAME_SANDBOX: str = SCHEMA["iframe"]["sandbox"]
ID_RE = js_regex(SCHEMA["id_pattern"])
DATA_RE = js_regex(SCHEMA["data_attribute_pattern"])
ARIA_RE = js_regex(SCHEMA["aria_attribute_pattern"])

STYLE_PREFIX = "style:"

_LANG_RE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,4}")
# values that could end a comment or a raw-text element if markup were ever re-parsed (mXSS)
_VALUE_BREAKOUT = re.compile(SCHEMA["attribute_value_forbidden"], re.IGNORECASE)
# JavaScript's [^\s"'<>`=] with its \s; {1,100} counts UTF-16 units, checked apart.
_CLASS_BAD = re.compile(f"[{JS_SPACE}\"'<>`=]")
# Characters browsers ignore inside a URL scheme ("jav\tascript:"): tabs, newlines, controls.
_URL_NOISE = re.compile("[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028\u2029\ufeff]+")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STRIP = re.compile("^[\t\n\f\r ]+|[\t\n\f\r ]+\\Z")
_CLASS_SPLIT = re.compile("[\t\n\f\r ]+")
_HOST = re.compile(r"(?:https:)?//([^/?#\\]*)", re.IGNORECASE | re.ASCII)
_PORT = re.compile(r":[0-9]{1,5}\Z")
_DATA_TYPE = re.compile(r"data:([a-z0-9.+\-]+/[a-z0-9.+\-]+)[;,]")
_SRCSET_DESCRIPTOR = re.compile(r"[0-9]+(\.[0-9]+)?[wx]")
_IMPORTANT = re.compile(f"[{JS_SPACE}]*!important\\Z", re.IGNORECASE | re.ASCII)
_CSS_SPACE = re.compile(f"[{JS_SPACE}]+")
_CSS_BRACES = re.compile(r"[;{}]")


def strip(value: str) -> str:
    """Strip the ASCII whitespace that HTML ignores around attribute values."""
    return _STRIP.sub("", value)


def _url_host(url: str) -> str | None:
    """The host of an absolute or protocol-relative URL, lower case, or None."""
    match = _HOST.match(url)
    if not match:
        return None
    host = match.group(1)
    if "@" in host:
        return None  # credentials in an embed URL: refuse
    host = _PORT.sub("", host).lower()
    return host or None


def clean_url(tag: str, attr: str, value: str) -> str | None:
    """A URL that is safe in ``attr`` of ``tag``, trimmed; None when it must be dropped."""
    v = strip(value)
    if not v or u16len(v) > SCHEMA["data_url_max"] or _CONTROL.search(v):
        return None
    squashed = _URL_NOISE.sub("", v).lower()
    match = _SCHEME.match(squashed)
    if tag == "iframe" and attr == "src":
        if not (squashed.startswith("https://") or squashed.startswith("//")):
            return None
        host = _url_host(v)
        return v if host and host in IFRAME_HOSTS else None
    if not match:
        return v if u16len(v) <= SCHEMA["url_max"] else None  # relative URL
    scheme = match.group(1)
    if scheme == "data":
        allowed = IMAGE_DATA_ATTRS.get(tag)
        if not allowed or attr not in allowed:
            return None
        kind = _DATA_TYPE.match(squashed)
        return v if kind and kind.group(1) in IMAGE_TYPES else None
    if u16len(v) > SCHEMA["url_max"]:
        return None
    return v if scheme in SAFE_SCHEMES else None


def _clean_srcset(tag: str, attr: str, value: str) -> str | None:
    out: list[str] = []
    for part in value.split(","):
        p = strip(part)
        if not p:
            continue
        url, *desc = js_split_space(p)
        clean = clean_url(tag, attr, url)
        if clean is None:
            return None
        if len(desc) > 1 or (desc and not _SRCSET_DESCRIPTOR.fullmatch(desc[0])):
            return None
        out.append(" ".join([clean, *desc]))
    return ", ".join(out) if out else None


def clean_css(prop: str, value: str) -> str | None:
    """One CSS declaration value, normalised; None when refused."""
    v = _CSS_SPACE.sub(" ", strip(value))
    v = _IMPORTANT.sub("", v)
    if not v or u16len(v) > SCHEMA["css_value_max"] or _CONTROL.search(v):
        return None
    lower = v.lower()
    if any(bad in lower for bad in CSS_FORBIDDEN):
        return None
    if prop == "display" and lower not in CSS_DISPLAY:
        return None
    if _CSS_BRACES.search(v):
        return None
    return v


def parse_style(style: str | None) -> list[tuple[str, str]]:
    """CSS declarations of a style attribute, in source order (the last one of a name wins)."""
    out: dict[str, str] = {}
    for decl in (style or "").split(";"):
        i = decl.find(":")
        if i < 0:
            continue
        prop = strip(decl[:i]).lower()
        if not prop:
            continue
        out.pop(prop, None)
        out[prop] = decl[i + 1 :]
    return list(out.items())


def style_text(attrs: Mapping[str, str]) -> str:
    """The style attribute text for the ``style:`` keys of a clean attribute object."""
    props = js_sorted(k for k in attrs if k.startswith(STYLE_PREFIX))
    return " ".join(f"{k[len(STYLE_PREFIX) :]}: {attrs[k]};" for k in props)


def _is_allowed_name(tag: str, name: str) -> bool:
    if name in GLOBAL_ATTRS:
        return True
    if name in ELEMENT_ATTRS.get(tag, ()):
        return True
    if name.startswith(("data-mce-", "data-rtc-")):
        return False
    return bool(DATA_RE.search(name) or ARIA_RE.search(name))


def clean_attribute(tag: str, name: str, value: Any) -> str | None:
    """One HTML attribute of ``tag``: its clean value, or None when dropped.

    ``style`` is handled by :func:`clean_attributes` (it becomes several ``style:`` keys).
    """
    if not isinstance(value, str):
        return None
    if not _is_allowed_name(tag, name) or name == "style":
        return None
    if (
        u16len(value) > SCHEMA["attribute_value_max"]
        or "\x00" in value
        or _VALUE_BREAKOUT.search(value)
    ):
        return None
    if name in URL_ATTRS:
        return clean_url(tag, name, value)
    if name in URL_LIST_ATTRS:
        return _clean_srcset(tag, name, value)
    if name in BOOLEANS:
        return ""
    if name == "contenteditable":
        v = strip(value).lower()
        return "true" if v in ("", "true") else "false" if v == "false" else None
    if name in ENUMS:
        v = strip(value).lower()
        return v if v in ENUMS[name] else None
    if name in ("id", "name", "for"):
        v = strip(value)
        return v if ID_RE.search(v) and v not in CLOBBER_NAMES else None
    if name == "class":
        tokens = [t for t in _CLASS_SPLIT.split(strip(value)) if t]
        clean = [t for t in tokens if 1 <= u16len(t) <= 100 and not _CLASS_BAD.search(t)]
        return " ".join(clean) if clean else None
    if name == "lang":
        v = strip(value)
        return v if v == "" or _LANG_RE.fullmatch(v) else None
    if name == "sandbox":
        return IFRAME_SANDBOX
    return value


def clean_attributes(tag: str, raw: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Clean the attributes of an element, ``raw`` being (name, value) in DOM order.

    Returns the model's attribute object (HTML attributes by name, CSS properties as
    ``style:PROP``) and the names of what was dropped (``"style PROP"`` for CSS).
    """
    attrs: dict[str, str] = {}
    dropped: list[str] = []
    for raw_name, value in raw:
        name = raw_name.lower()
        if name == "style":
            for prop, prop_value in parse_style(value):
                clean = clean_css(prop, prop_value) if prop in CSS_PROPERTIES else None
                if clean is None:
                    dropped.append(f"style {prop}")
                else:
                    attrs[STYLE_PREFIX + prop] = clean
            continue
        if name.startswith("data-mce-"):
            continue  # the editor's own bookkeeping
        clean = clean_attribute(tag, name, value)
        if clean is None:
            dropped.append(name)
        else:
            attrs[name] = clean
    if tag == "iframe":
        attrs["sandbox"] = IFRAME_SANDBOX
    return attrs, dropped


def check_attrs(tag: str, obj: Any) -> dict[str, str]:
    """Re-check an attribute object from a Yjs document (untrusted).

    Keys are HTML attribute names or ``style:PROP``. Returns a new, clean object.
    """
    attrs: dict[str, str] = {}
    if isinstance(obj, Mapping):
        for key in js_sorted(k for k in obj if isinstance(k, str)):
            value = obj[key]
            if not isinstance(value, str):
                continue
            if key.startswith(STYLE_PREFIX):
                prop = key[len(STYLE_PREFIX) :]
                clean = clean_css(prop, value) if prop in CSS_PROPERTIES else None
            else:
                clean = clean_attribute(tag, key, value)
            if clean is not None:
                attrs[key] = clean
    if tag == "iframe":
        attrs["sandbox"] = IFRAME_SANDBOX
    return attrs


def iframe_allowed(attrs: Mapping[str, str]) -> bool:
    """An iframe is kept only with an allowed src."""
    return isinstance(attrs.get("src"), str)
