"""Prompt templates: how the user message is wrapped before it reaches the LLM.

GCAF 3.1 follows "each model's prompt template". The templates, by name:

``tokenizer``
    The model tokenizer's own chat template (``tokenizer.apply_chat_template`` with the
    generation prompt). Its text already holds the special tokens the model expects
    (BOS and the like), so it is tokenized without adding any. ``hf`` backend only.
``stablebeluga``
    ``### System:\\n{system}\\n\\n### User:\\n{user}\\n\\n### Assistant:\\n`` (the
    StableBeluga model cards' prompt format). The paper does not give its system text;
    the default is the model card's own example, :data:`STABLEBELUGA_DEFAULT_SYSTEM`.
``llama2``
    Llama-2-chat, as Meta's reference code builds one turn:
    ``[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST]`` (no system block when
    there is no system text, the default).
``none``
    The user message as it is.
``server``
    ``openai`` backend only: the messages go to the chat completions endpoint and the
    server applies the model's chat template.

For ``stablebeluga``, ``llama2`` and ``none`` the text holds no BOS: the ``hf`` backend's
tokenizer adds the model's special tokens, as OpenAI-compatible servers do on their
completions endpoint. ``auto`` means ``tokenizer`` when the model's tokenizer has a chat
template (``hf``) and ``server`` with ``openai``.

:class:`RenderedPrompt.text` is exactly what is sent (for ``server``, the messages as
JSON), and is what the generation file records.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Tuple

TEMPLATE_NAMES = ("auto", "tokenizer", "stablebeluga", "llama2", "none", "server")
STABLEBELUGA_DEFAULT_SYSTEM = "This is a system prompt, please behave and help the user."


class TemplateError(ValueError):
    """A template that does not fit the backend, the tokenizer or the options."""


@dataclass(frozen=True)
class RenderedPrompt:
    """One request: ``text`` as sent (the templated text, or for the chat endpoint the
    messages as JSON), ``messages`` for the chat endpoint (else None), and whether the
    tokenizer should add the model's special tokens to ``text``."""

    text: str
    messages: Optional[Tuple[dict, ...]]
    add_special_tokens: bool


class PromptTemplate:
    """Base class: a named wrapper around one user message."""

    name = ""
    uses_chat_endpoint = False
    add_special_tokens = True

    def __init__(self, system: Optional[str] = None):
        self.system = system

    def render_text(self, user_message: str) -> str:
        raise NotImplementedError

    def render(self, user_message: str) -> RenderedPrompt:
        return RenderedPrompt(self.render_text(user_message), None, self.add_special_tokens)

    def settings(self) -> dict:
        """What the generation file header records (and compares on append)."""
        return {"name": self.name, "system": self.system}


class TokenizerChatTemplate(PromptTemplate):
    name = "tokenizer"
    add_special_tokens = False

    def __init__(self, tokenizer, system: Optional[str] = None):
        super().__init__(system)
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                f"the tokenizer of {getattr(tokenizer, 'name_or_path', 'the model')!r} has no chat template: "
                "pass --template stablebeluga, llama2 or none"
            )
        self.tokenizer = tokenizer

    def messages(self, user_message: str) -> list:
        system = [{"role": "system", "content": self.system}] if self.system is not None else []
        return system + [{"role": "user", "content": user_message}]

    def render_text(self, user_message: str) -> str:
        return self.tokenizer.apply_chat_template(
            self.messages(user_message), tokenize=False, add_generation_prompt=True
        )

    def settings(self) -> dict:
        source = self.tokenizer.chat_template
        if not isinstance(source, str):  # several named templates
            source = json.dumps(source, sort_keys=True)
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        return {**super().settings(), "chat_template_sha256": digest}


class StableBelugaTemplate(PromptTemplate):
    name = "stablebeluga"

    def __init__(self, system: Optional[str] = None):
        super().__init__(STABLEBELUGA_DEFAULT_SYSTEM if system is None else system)

    def render_text(self, user_message: str) -> str:
        return f"### System:\n{self.system}\n\n### User:\n{user_message}\n\n### Assistant:\n"


class Llama2ChatTemplate(PromptTemplate):
    name = "llama2"

    def render_text(self, user_message: str) -> str:
        content = user_message.strip()
        if self.system is not None:
            content = f"<<SYS>>\n{self.system}\n<</SYS>>\n\n{content}"
        return f"[INST] {content} [/INST]"


class RawTemplate(PromptTemplate):
    name = "none"

    def __init__(self, system: Optional[str] = None):
        if system is not None:
            raise TemplateError("template 'none' sends the user message as it is: it has no place for --system")
        super().__init__(None)

    def render_text(self, user_message: str) -> str:
        return user_message


class ServerChatTemplate(PromptTemplate):
    name = "server"
    uses_chat_endpoint = True

    def render(self, user_message: str) -> RenderedPrompt:
        system = ({"role": "system", "content": self.system},) if self.system is not None else ()
        messages = system + ({"role": "user", "content": user_message},)
        return RenderedPrompt(json.dumps(list(messages), ensure_ascii=False), messages, True)


def build_template(name: str, backend: str, system: Optional[str] = None, tokenizer=None) -> PromptTemplate:
    """The template ``name`` (one of :data:`TEMPLATE_NAMES`) for ``backend`` (``"hf"`` or
    ``"openai"``); ``tokenizer`` is the model's (``hf``), needed by ``tokenizer``/``auto``."""
    if name not in TEMPLATE_NAMES:
        raise TemplateError(f"unknown template {name!r}: choose one of {', '.join(TEMPLATE_NAMES)}")
    if name == "auto":
        name = "server" if backend == "openai" else "tokenizer"
    if name == "tokenizer":
        if backend != "hf" or tokenizer is None:
            raise TemplateError(
                "template 'tokenizer' needs the hf backend (the model's tokenizer); with openai use 'server' "
                "(the server applies the model's chat template) or stablebeluga, llama2, none"
            )
        return TokenizerChatTemplate(tokenizer, system)
    if name == "server":
        if backend != "openai":
            raise TemplateError("template 'server' needs the openai backend (a chat completions endpoint)")
        return ServerChatTemplate(system)
    return {"stablebeluga": StableBelugaTemplate, "llama2": Llama2ChatTemplate, "none": RawTemplate}[name](system)
