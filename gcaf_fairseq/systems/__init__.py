"""The one list of systems: every row of the papers' tables, the families that name them, and
the systems beyond the papers that the demo runs (pure Python, no torch or fairseq).

A :class:`System` record holds everything the tables, the recipes and the demo need to know
about a system:

- its **overlay**: ``config/finetuning/system/{overlay}.yaml`` (text systems with a tunable
  pooling pick the ``[CLS]`` or the sequence overlay from it, see :attr:`System.overlays`);
- its **knobs**: ``fixed`` ones are its identity (a run must agree), ``tunable`` ones default
  to the papers' chosen setting and may be swept (CA Tables 1-3 sweep B's alpha, D, L, O);
- what it **needs** at training and at decoding (:meth:`System.need`): nothing, the
  neighbours' audio (the utterance table), or a context store of one *kind* (previous or
  current ground-truth text, K previous texts, or an LLM's generation with one prompt);
- its **hydra overrides** (:meth:`System.hydra_overrides`): the overlay, the knobs'
  overrides (alpha, D, L, O) and the settings the overlay does not fix (``context_layer``,
  ``context_pooling`` of a K-row store);
- its **decoding variants** (:meth:`System.decodings`): where an injection system's context
  comes from at decoding -- the oracle's (the ground-truth store, the neighbours' audio
  re-encoded) or what a deployed decoder has (a first pass's hypotheses, its own previous
  hypothesis, the previous utterance's encoding kept from its own decoding).

Adding a system is one record in :data:`SYSTEMS` (through :func:`register_system`) and one
overlay yaml; ``tests/test_systems.py`` checks that every record's yaml exists and every yaml
has a record. The tables read their rows' systems from here, the recipes plan runs and
commands from here, and the demo picks its systems (and the store each one reads) from here.
"""

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

#: knob -> the hydra override that sets it (knobs absent here choose the store or the overlay)
KNOB_OVERRIDES = {"alpha": "criterion.context_alpha", "context_dim": "model.context_dim",
                  "window": "model.context_window", "offset": "model.context_offset"}
#: every knob a run can name (run.json, the tables' cells)
KNOBS = ("prompt", "llm", "pooling", "context_text", "alpha", "context_dim", "window", "offset", "distillation")
#: other spellings of knob names accepted in run.json
KNOB_ALIASES = {"D": "context_dim", "L": "window", "O": "offset", "context_window": "window",
                "context_offset": "offset", "context_alpha": "alpha", "context_pooling": "pooling", "size": "llm"}

CONTEXT_SOURCES = ("none", "audio", "text", "generated")  # what a system's context is made of
CONTEXT_USES = ("none", "injection", "aware")  # injection: read at decoding too; aware: training only


@dataclass(frozen=True)
class ContextNeed:
    """The context a system reads: ``source`` ``none``, ``neighbours`` (the utterance table:
    the neighbours' audio) or ``store`` (a context store of ``kind`` -- ``prev``, ``cur``,
    ``prev2``, ``prev3-sep``, ``P4-13B``, ... -- with ``pooling`` cls or sequence); whether
    decoding reads it too (injection) or only training does (aware: the teacher)."""

    source: str
    kind: Optional[str] = None
    pooling: Optional[str] = None
    at_decoding: bool = False
    prompt: Optional[str] = None
    llm: Optional[str] = None

    @property
    def at_training(self) -> bool:
        return self.source != "none"


@dataclass(frozen=True)
class DecodingVariant:
    """One way of decoding a system: what its context is made of at decoding (docs/systems.md,
    "Decoding with the context a deployed decoder has"). A system's first variant is what a
    plain ``fairseq-generate`` with its training store or utterance table does."""

    name: str  # one of DECODING_VARIANTS
    label: str  # short, for a table cell
    context: str  # what decoding reads, in words
    oracle: bool  # it reads what a decoder transcribing a recording does not have at that moment
    sequential: bool = False  # fairseq-generate --sequential-context (own hypotheses / cached encodings)
    first_pass: Optional[str] = None  # two passes: the system whose hypotheses become the previous texts


#: every decoding variant's name, in the order a table lists them
DECODING_VARIANTS = ("plain", "gt", "hyp-A", "own", "reencoded", "cached")


@dataclass(frozen=True)
class System:
    """One system: a table row, a family whose knobs name a row, or a system beyond the papers."""

    name: str
    overlay: str  # config/finetuning/system/{overlay}.yaml
    description: str
    context: str  # one of CONTEXT_SOURCES
    use: str  # one of CONTEXT_USES
    fixed: Mapping[str, Any] = field(default_factory=dict)
    tunable: Mapping[str, Any] = field(default_factory=dict)
    inference: str = "the current audio"  # what decoding needs, in words (docs/systems.md)
    oracle: bool = False  # its decoding context is ground truth a deployed decoder does not have
    aliases: Tuple[str, ...] = ()  # other names (the CA paper's (a), (b), (c))
    paper_row: bool = True  # a row of the papers' tables (False: the demo's systems beyond the papers)
    family: bool = False  # C / D: the knobs name the row (C1..C4, D1..D7)
    #: overlay per pooling, for text systems whose pooling is a knob (D rows: [CLS] or sequence)
    overlays: Mapping[str, str] = field(default_factory=dict)
    context_layer: Optional[int] = None  # model.context_layer (None: the output, the papers')
    previous: int = 1  # text systems: how many previous texts the store holds (1: the papers')
    join: str = "concat"  # K > 1: one text joined by a space, or "separate": K [CLS] rows
    #: text systems: the system whose hypotheses of the training and validation splits are the texts
    #: at training, as two passes give them at decoding (None: the ground truth, the papers')
    training_texts: Optional[str] = None

    @property
    def defaults(self) -> Dict[str, Any]:
        return {**self.fixed, **self.tunable}

    def overlay_for(self, knobs: Optional[Mapping[str, Any]] = None) -> str:
        """The overlay yaml's name for this setting of the knobs."""
        pooling = {**self.defaults, **(knobs or {})}.get("pooling")
        return self.overlays.get(pooling, self.overlay)

    def need(self, knobs: Optional[Mapping[str, Any]] = None) -> ContextNeed:
        """What the system reads with these knobs (defaults for the absent ones). A ``llm``
        knob of ``None`` names no size: the store kind is then the prompt alone (the demo's
        one LLM)."""
        values = {**self.defaults, **(knobs or {})}
        at_decoding = self.use == "injection"
        if self.context == "none":
            return ContextNeed("none")
        if self.context == "audio":
            return ContextNeed("neighbours", at_decoding=at_decoding)
        pooling = "sequence" if self.join == "separate" else values.get("pooling", "cls")
        if self.context == "text":
            current = values.get("context_text", "previous") == "current"
            kind = "cur" if current else previous_text_kind(self.previous, self.join)
            return ContextNeed("store", kind, pooling, at_decoding)
        prompt, llm = values["prompt"], values.get("llm")
        kind = prompt if llm is None else f"{prompt}-{llm}"
        return ContextNeed("store", kind, pooling, at_decoding, prompt=prompt, llm=llm)

    def decodings(self, knobs: Optional[Mapping[str, Any]] = None) -> Tuple[DecodingVariant, ...]:
        """The ways this system can be decoded with these knobs, the plain one first:

        - no context at decoding (A, the aware E and B): ``plain``, the current audio;
        - the previous ground-truth text(s) (C1/C2, C1L, C1L-K*): ``gt`` (the store, an
          oracle), ``hyp-A`` (two passes: A's hypotheses of the split as the previous texts,
          any K and layout) and, for one previous text, ``own`` (``--sequential-context``:
          the model's own previous hypothesis, embedded as it decodes);
        - the current text (C3/C4) or an LLM's generation (D): ``gt`` only (their realistic
          forms need the hypothesis of the utterance itself, or an LLM, at decoding);
        - the neighbours' audio ((b)): ``reencoded`` and, for a previous-only window
          (``offset = 1 - window``), ``cached`` (``--sequential-context``: the previous
          utterances' encodings kept from their own decoding). Re-encoding is an oracle
          when the window reaches following utterances, which a decoder has not heard yet.
        """
        values = {**self.defaults, **(knobs or {})}
        need = self.need(knobs)
        if not need.at_decoding:
            return (DecodingVariant("plain", "current audio", "the current audio", False),)
        if need.source == "neighbours":
            previous_only = values["offset"] == 1 - values["window"]
            reencoded = DecodingVariant("reencoded", "re-encoded", "the neighbours' audio, encoded again",
                                        oracle=not previous_only)
            if not previous_only:
                return (reencoded,)
            return (reencoded, DecodingVariant(
                "cached", "cached", "the previous utterance's encoding, kept from its own decoding", False,
                sequential=True))
        ground_truth = DecodingVariant("gt", "GT", self.inference, self.oracle)
        if self.context != "text" or values.get("context_text", "previous") != "previous":
            return (ground_truth,)
        texts = "text" if self.previous == 1 else f"{self.previous} texts"
        variants = [ground_truth, DecodingVariant(
            "hyp-A", "A's hyp.", f"A's hypotheses as the previous {texts} (two passes) + the text encoder", False,
            first_pass="A")]
        if self.previous == 1 and self.join == "concat":
            variants.append(DecodingVariant(
                "own", "own hyp.", "its own hypothesis of the previous utterance + the text encoder", False,
                sequential=True))
        return tuple(variants)

    def hydra_overrides(self, knobs: Optional[Mapping[str, Any]] = None) -> List[str]:
        """``+system=OVERLAY``, then what the overlay does not fix: the knobs' overrides (in
        :data:`KNOB_OVERRIDES` order, for the knobs the system has), ``context_layer`` and
        the pooling of a store of K rows. Stores, data and seeds are the caller's."""
        values = {**self.defaults, **(knobs or {})}
        overrides = [f"+system={self.overlay_for(values)}"]
        for knob, key in KNOB_OVERRIDES.items():
            if knob in values:
                value = values[knob]
                overrides.append(f"{key}={repr(float(value)) if knob == 'alpha' else value}")
        if self.context_layer is not None:
            overrides.append(f"model.context_layer={self.context_layer}")
        if self.join == "separate":
            overrides.append("model.context_pooling=sequence")  # attends to the K [CLS] rows
        return overrides


def previous_text_kind(previous: int = 1, join: str = "concat") -> str:
    """The store kind of the previous texts: ``prev`` for the papers' one previous sentence;
    ``prev2``, ``prev3-sep`` for K previous ones as one text or as K [CLS] rows."""
    if previous == 1 and join == "concat":
        return "prev"
    return f"prev{previous}" + ("-sep" if join == "separate" else "")


_CA_AUDIO = {"context_dim": 32, "window": 2, "offset": 0}  # CA's chosen (D, L, O); alpha 10 for (c)
_C_ROWS = {"C1": ("cls", "previous"), "C2": ("sequence", "previous"),
           "C3": ("cls", "current"), "C4": ("sequence", "current")}
_D_ROWS = {"D1": ("P1", "13B"), "D2": ("P2", "13B"), "D3": ("P3", "13B"), "D4": ("P4", "13B"),
           "D5": ("P4", "7B"), "D6": ("P4", "30B"), "D7": ("P4", "70B")}
_POOLING_OVERLAYS = {"cls": "C1", "sequence": "C2"}


def _records() -> List[System]:
    records = [
        System("A", "A", "baseline CTC fine-tuning", "none", "none", inference="the current audio",
               aliases=("(a)", "ca_a")),
        System("B", "B", "context-aware fine-tuning from audio (CA row (c)): e_i of the current audio, pulled "
               "towards the neighbours' e_j", "audio", "aware", tunable={"alpha": 10.0, **_CA_AUDIO},
               aliases=("(c)", "ca_c")),
        System("ca_b", "ca_b", "context injection from the neighbours' audio (CA row (b))", "audio", "injection",
               tunable=dict(_CA_AUDIO), inference="the neighbours' audio, encoded again", aliases=("(b)", "ca-b")),
    ]
    for name, (pooling, text) in _C_ROWS.items():
        records.append(System(
            name, _POOLING_OVERLAYS[pooling],
            f"context injection of the {text} ground-truth text ({'[CLS]' if pooling == 'cls' else 'sequence'})",
            "text", "injection", fixed={"pooling": pooling, "context_text": text, "distillation": False},
            inference=f"the {text} utterance's ground-truth text + the text encoder", oracle=True))
    for name, (prompt, llm) in _D_ROWS.items():
        records.append(System(
            name, "C1", f"generative context injection: the {llm} LLM's {prompt} generation of the previous text",
            "generated", "injection", fixed={"prompt": prompt, "llm": llm, "distillation": False},
            tunable={"pooling": "cls"}, overlays=_POOLING_OVERLAYS,
            inference="the previous ground-truth text + the LLM + the text encoder", oracle=True))
    records += [
        System("E", "E", "generative context-aware fine-tuning (GCAF): a student e_hat distilled from the LLM "
               "generation's embedding", "generated", "aware", fixed={"distillation": True},
               tunable={"prompt": "P4", "llm": "13B", "pooling": "cls", "alpha": 10.0}),
        # families: the knobs name the row (C1..C4, D1..D7) where they match one
        System("C", "C1", "context injection of a ground-truth text", "text", "injection",
               fixed={"distillation": False}, tunable={"pooling": "cls", "context_text": "previous"},
               overlays=_POOLING_OVERLAYS, paper_row=False, family=True, oracle=True),
        System("D", "C1", "generative context injection", "generated", "injection", fixed={"distillation": False},
               tunable={"prompt": "P4", "llm": "13B", "pooling": "cls"}, overlays=_POOLING_OVERLAYS,
               paper_row=False, family=True, oracle=True),
        # beyond the papers (the demo's extension tables)
        System("C1L", "C1", "C1 injected before the last transformer layer", "text", "injection",
               fixed={"pooling": "cls", "context_text": "previous", "distillation": False}, context_layer=-1,
               inference="the previous ground-truth text + the text encoder", oracle=True, paper_row=False),
        System("EL", "E", "GCAF student at depth: pools, and fuses e_hat, before the last layer", "generated",
               "aware", fixed={"distillation": True}, tunable={"prompt": "P4", "llm": "13B", "pooling": "cls",
                                                                "alpha": 10.0},
               context_layer=-1, paper_row=False),
        System("bP", "ca_b", "context injection from the previous utterance's audio (CA row (b), window 2, "
               "offset -1)", "audio", "injection", tunable={**_CA_AUDIO, "offset": -1},
               inference="the previous utterance's audio, encoded again (or its encoding kept: --sequential-context)",
               paper_row=False),
    ]
    records.append(System(
        "C1L-hA", "C1", "C1L trained on A's hypotheses of the previous sentence", "text", "injection",
        fixed={"pooling": "cls", "context_text": "previous", "distillation": False}, context_layer=-1,
        inference="the previous ground-truth text + the text encoder", oracle=True, paper_row=False,
        training_texts="A"))
    for previous, join, what in ((2, "concat", "the 2 previous sentences as one text"),
                                 (3, "concat", "the 3 previous sentences as one text"),
                                 (3, "separate", "attending to the 3 previous sentences' [CLS] (a sequence store)")):
        name = f"C1L-K{previous}" + ("s" if join == "separate" else "")
        records.append(System(
            name, "C1", f"C1L with {what}" if join == "concat" else f"C1L {what}", "text", "injection",
            fixed={"pooling": "cls", "context_text": "previous", "distillation": False}, context_layer=-1,
            previous=previous, join=join, inference="the previous ground-truth texts + the text encoder",
            oracle=True, paper_row=False))
    return records


SYSTEMS: Dict[str, System] = {}
ALIASES: Dict[str, str] = {}


def register_system(system: System) -> System:
    """Add ``system`` to :data:`SYSTEMS` (``ValueError`` for a name or alias taken, or an
    unknown context source or use)."""
    if system.context not in CONTEXT_SOURCES or system.use not in CONTEXT_USES:
        raise ValueError(f"system {system.name}: context {system.context!r} / use {system.use!r}; expected one of "
                         f"{CONTEXT_SOURCES} / {CONTEXT_USES}")
    for name in (system.name, *system.aliases):
        if name in SYSTEMS or name in ALIASES:
            raise ValueError(f"system name {name!r} is taken")
    SYSTEMS[system.name] = system
    ALIASES.update({alias: system.name for alias in system.aliases})
    return system


for _system in _records():
    register_system(_system)


@contextmanager
def temporary_systems(*systems: System) -> Iterator[None]:
    """Register ``systems`` for the duration of a ``with`` block (tests, experiments)."""
    saved_systems, saved_aliases = dict(SYSTEMS), dict(ALIASES)
    try:
        for system in systems:
            register_system(system)
        yield
    finally:
        SYSTEMS.clear()
        SYSTEMS.update(saved_systems)
        ALIASES.clear()
        ALIASES.update(saved_aliases)


def canonical(name: str) -> str:
    """The registry's name for ``name`` (an alias such as ``(b)`` -> ``ca_b``)."""
    return ALIASES.get(name, name)


def get(name: str) -> System:
    """The record of ``name`` or one of its aliases (``KeyError`` naming the known systems)."""
    try:
        return SYSTEMS[canonical(name)]
    except KeyError:
        raise KeyError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}") from None


def paper_rows() -> List[str]:
    """The systems that are rows of the papers' tables."""
    return [name for name, system in SYSTEMS.items() if system.paper_row]


def overlays() -> Dict[str, List[str]]:
    """overlay yaml name -> the systems that use it."""
    used: Dict[str, List[str]] = {}
    for name, system in SYSTEMS.items():
        for overlay in {system.overlay, *system.overlays.values()}:
            used.setdefault(overlay, []).append(name)
    return used


# ---------------------------------------------------------------- knobs


def normalize_knob(where: str, name: str, value: Any) -> Any:
    """``value`` of knob ``name`` in its canonical form (``P4``, ``13B``, ``cls``, a float
    alpha, int D/L/O, a bool); ``ValueError`` naming ``where`` and what is expected."""

    def bad(expected: str) -> ValueError:
        return ValueError(f"{where}: {name} is {value!r}; expected {expected}. Fix the run.json")

    if name == "prompt":
        text = str(value).strip().upper()
        if text.isdigit():
            text = "P" + text
        if text not in ("P1", "P2", "P3", "P4"):
            raise bad("P1, P2, P3 or P4")
        return text
    if name == "llm":
        text = str(value).strip().upper()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            text += "B"
        if not re.fullmatch(r"\d+(\.\d+)?B", text):
            raise bad("a size such as 7B, 13B, 30B or 70B")
        return text
    if name == "pooling":
        text = str(value).strip().lower().strip("[]")
        if text not in ("cls", "sequence"):
            raise bad("cls or sequence")
        return text
    if name == "context_text":
        text = str(value).strip().lower()
        if text not in ("previous", "current"):
            raise bad("previous or current")
        return text
    if name == "alpha":
        if isinstance(value, bool):
            raise bad("a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
        if not math.isfinite(number):
            raise bad("a finite number")
        return number
    if name in ("context_dim", "window", "offset"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad("an integer")
        if not re.fullmatch(r"-?\d+", str(value).strip()):
            raise bad("an integer")
        return int(value)
    if name == "distillation":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "on", "yes", "1"):
            return True
        if text in ("false", "off", "no", "0"):
            return False
        raise bad("true or false")
    raise AssertionError(name)


def knobs_equal(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    """Equal knob settings (floats compared with a relative tolerance: 10 == 10.0 == 1e1)."""
    if set(left) != set(right):
        return False
    for key, value in left.items():
        other = right[key]
        if isinstance(value, float) or isinstance(other, float):
            if not math.isclose(float(value), float(other), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif value != other:
            return False
    return True


def resolve(where: str, system: str, given: Mapping[str, Any]) -> Tuple[str, Dict[str, Any], List[str]]:
    """The canonical system, its full knob setting (defaults + given tunables) and notes.

    ``ValueError`` naming ``where`` when the system is unknown or a given knob contradicts
    its identity; a family run whose knobs are one of the numbered rows is that row."""
    notes: List[str] = []
    name = canonical(system)
    if name not in SYSTEMS:
        raise ValueError(f"{where}: system {system!r} is not a table row; use one of "
                         f"{', '.join(list(SYSTEMS) + list(ALIASES))}. Fix the run.json")
    record = SYSTEMS[name]
    knobs = dict(record.defaults)
    for key, value in given.items():
        if key in record.fixed:
            if not knobs_equal({key: record.fixed[key]}, {key: value}):
                raise ValueError(
                    f"{where}: system {name} has {key} = {record.fixed[key]!r}, but run.json says {value!r}. "
                    f"Fix the system or the knob (a D or C run with other knobs is system D or C)"
                )
        elif key in record.tunable:
            knobs[key] = value
        else:
            notes.append(f"knob {key} = {value!r} does not apply to system {name}; ignored")
    if record.family:
        for row in SYSTEMS.values():
            if row.family or not row.paper_row or row.context != record.context or row.use != record.use:
                continue
            if all(knobs.get(key) == value for key, value in row.fixed.items() if key != "distillation"):
                name, knobs = row.name, {**row.defaults, **{key: knobs[key] for key in row.tunable if key in knobs}}
                break
    return name, knobs, notes

