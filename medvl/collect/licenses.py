"""License strings and URLs -> one canonical form, and the filter that decides what medvl keeps.

Papers arrive with licenses written many ways: PMC's cloud metadata says ``"CC BY"`` or
``"CC BY-NC-ND"``, JATS XML carries ``<license license-type="open-access"
xlink:href="http://creativecommons.org/licenses/by/4.0/">`` or only a sentence
("distributed under the terms of the Creative Commons Attribution License"), Europe PMC
says ``"cc by"``.  :func:`normalize` maps all of them to a :class:`License` with a
*family* (``cc-by``, ``cc-by-nc-nd``, ``cc0``, ``public-domain`` ...) and, when known, a
version, and an SPDX-style id (``CC-BY-4.0``, ``CC0-1.0``) that travels into every record
made from the paper.

The default filter keeps only families that allow redistribution and training, commercial
included: CC BY, CC0 and public domain.  Anything else (NC, ND, SA, PMC's text-mining-only
``TDM`` code, an unreadable or missing license) is rejected unless the user asks for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

# Families that allow redistribution and (commercial) training without further conditions
# beyond attribution.
DEFAULT_ALLOWED: tuple[str, ...] = ("cc-by", "cc0", "public-domain")

FAMILIES: tuple[str, ...] = (
    "cc-by", "cc-by-sa", "cc-by-nd", "cc-by-nc", "cc-by-nc-sa", "cc-by-nc-nd",
    "cc0", "public-domain", "tdm", "other", "unknown",
)

# Words users may type for a family on the command line.
_ALIASES = {
    "ccby": "cc-by", "cc-by": "cc-by", "by": "cc-by",
    "ccbysa": "cc-by-sa", "by-sa": "cc-by-sa",
    "ccbynd": "cc-by-nd", "by-nd": "cc-by-nd",
    "ccbync": "cc-by-nc", "by-nc": "cc-by-nc",
    "ccbyncsa": "cc-by-nc-sa", "by-nc-sa": "cc-by-nc-sa",
    "ccbyncnd": "cc-by-nc-nd", "by-nc-nd": "cc-by-nc-nd",
    "cc0": "cc0", "cczero": "cc0", "zero": "cc0",
    "pd": "public-domain", "publicdomain": "public-domain", "public-domain": "public-domain",
    "tdm": "tdm", "other": "other", "unknown": "unknown",
}


@dataclass(frozen=True)
class License:
    family: str  # one of FAMILIES
    version: str | None = None  # "4.0", "1.0" ...
    raw: str = ""  # the text it came from

    @property
    def spdx(self) -> str:
        """SPDX-style id: CC-BY-4.0, CC-BY-NC-ND-3.0, CC0-1.0, or the family in capitals."""
        if self.family == "cc0":
            return "CC0-1.0"
        if self.family == "public-domain":
            return "public-domain"
        if self.family.startswith("cc-by"):
            base = self.family.upper()
            return f"{base}-{self.version}" if self.version else base
        return self.family

    def allowed(self, families: Iterable[str] = DEFAULT_ALLOWED) -> bool:
        return self.family in set(families)


def parse_families(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"cc-by,cc0"`` or a list -> canonical family names; ``all`` means every family."""
    if spec is None:
        return DEFAULT_ALLOWED
    items = [s for s in (spec.split(",") if isinstance(spec, str) else spec)]
    out: list[str] = []
    for item in items:
        key = item.strip().lower()
        if not key:
            continue
        if key in ("all", "any", "*"):
            return FAMILIES
        fam = _ALIASES.get(key) or _ALIASES.get(re.sub(r"[\s_.-]+", "", key))
        if fam is None:
            raise ValueError(f"unknown license family {item.strip()!r}: use one of {', '.join(FAMILIES)} or 'all'")
        if fam not in out:
            out.append(fam)
    if not out:
        raise ValueError("empty license list")
    return tuple(out)


_CC_URL = re.compile(
    r"creativecommons\.org/(?:licenses|licences)/(?P<kind>[a-z-]+)/(?P<ver>\d(?:\.\d)?)?", re.I)
_CC_ZERO_URL = re.compile(r"creativecommons\.org/publicdomain/zero/(?P<ver>\d(?:\.\d)?)?", re.I)
_CC_PDM_URL = re.compile(r"creativecommons\.org/publicdomain/mark", re.I)
_VERSION = re.compile(r"\b(\d\.\d)\b")


def _family_from_parts(parts: set[str]) -> str:
    nc, nd, sa = "nc" in parts, "nd" in parts, "sa" in parts
    if nc and nd:
        return "cc-by-nc-nd"
    if nc and sa:
        return "cc-by-nc-sa"
    if nc:
        return "cc-by-nc"
    if nd:
        return "cc-by-nd"
    if sa:
        return "cc-by-sa"
    return "cc-by"


def normalize(text: str | None) -> License | None:
    """Map a license code, name, URL or sentence to a :class:`License`; None when empty.

    Unreadable text gives family ``unknown`` (kept as ``raw``) rather than a guess.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    low = " ".join(raw.lower().split())

    # URLs are the most precise statement; look for one anywhere in the text.
    # A licenses/ URL wins over a publicdomain/zero one: BioMed Central articles carry both,
    # CC BY for the article and the CC0 waiver for its data.
    m = _CC_URL.search(low)
    if m:
        parts = set(m.group("kind").split("-"))
        if "by" in parts:
            return License(_family_from_parts(parts), m.group("ver"), raw)
        return License("other", None, raw)
    m = _CC_ZERO_URL.search(low)
    if m:
        return License("cc0", m.group("ver") or "1.0", raw)
    if _CC_PDM_URL.search(low):
        return License("public-domain", None, raw)

    version = None
    vm = _VERSION.search(low)
    if vm:
        version = vm.group(1)

    # Codes and short names: "CC BY", "CC-BY-NC-ND 4.0", "cc_by", "CC0", "ccby".
    code = re.sub(r"[\s_]+", "-", low)
    code = re.sub(r"-?\d\.\d.*$", "", code).strip("-")
    if code in ("cc0", "cc-0", "cc-zero", "cczero", "cc0-1.0"):
        return License("cc0", "1.0", raw)
    if code in ("public-domain", "pd", "publicdomain", "us-government-work", "us-gov"):
        return License("public-domain", None, raw)
    if code == "tdm":
        return License("tdm", None, raw)
    m2 = re.fullmatch(r"(?:cc-?)?by((?:-(?:nc|nd|sa))*)(?:-license)?", code)
    if m2 and (code.startswith("cc") or code.startswith("by")):
        parts = {"by", *[p for p in m2.group(1).split("-") if p]}
        return License(_family_from_parts(parts), version, raw)

    # Sentences: an attribution license first (it may mention a CC0 waiver for the data).
    if re.search(r"creative\s*commons\s*(?:\S+\s*)?attribution|\bcc[- ]by\b", low):
        parts = {"by"}
        if re.search(r"non-?commercial|\bnc\b", low):
            parts.add("nc")
        if re.search(r"no-?deriv|\bnd\b", low):
            parts.add("nd")
        if re.search(r"share-?alike|\bsa\b", low):
            parts.add("sa")
        return License(_family_from_parts(parts), version, raw)
    if re.search(r"\bcc0\b|\bcc zero\b|zero 1\.0", low):
        return License("cc0", "1.0", raw)
    if "public domain" in low:
        return License("public-domain", None, raw)
    return License("unknown", None, raw)


def best_of(*texts: str | None) -> License | None:
    """The first text that normalizes to a known family (else the first non-empty result)."""
    fallback = None
    for t in texts:
        lic = normalize(t)
        if lic is None:
            continue
        if lic.family not in ("unknown", "other"):
            return lic
        fallback = fallback or lic
    return fallback


def license_from_jats(root) -> License | None:
    """Read ``<permissions><license>`` of a parsed JATS article (ElementTree element).

    Prefers the license URL (``xlink:href`` or ``ali:license_ref``), then ``license-type``
    when it names a license, then the license paragraph text.
    """
    candidates: list[str] = []
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        if tag == "license":
            for k, v in el.attrib.items():
                if k.endswith("href") and v:
                    candidates.append(v)
            for sub in el.iter():
                stag = sub.tag.rsplit("}", 1)[-1] if isinstance(sub.tag, str) else ""
                if stag == "license_ref" and (sub.text or "").strip():
                    candidates.append(sub.text.strip())
            ltype = el.attrib.get("license-type", "")
            if ltype and ltype.lower() not in ("open-access", "openaccess", "open access", "free"):
                candidates.append(ltype)
            text = " ".join("".join(el.itertext()).split())
            if text:
                candidates.append(text)
        elif tag == "license_ref" and (el.text or "").strip():
            candidates.append(el.text.strip())
    return best_of(*candidates)
