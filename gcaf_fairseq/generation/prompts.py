"""The four prompts of GCAF (Table 1), verbatim, and how a prompt meets the previous text.

The user message sent to the LLM is the prompt, one space, then the previous utterance's
text (``"Predict title of the given text: i could spell ..."``). A custom prompt may
place the text itself with the literal placeholder ``{text}``; without it the text is
appended after one space, as for P1-P4.
"""

from typing import Tuple

PROMPTS = {
    "P1": "Provide a next sentence for the given text:",
    "P2": "This is part of the answer. Can you predict what was the question? text :",
    "P3": "Predict topic of the given text:",
    "P4": "Predict title of the given text:",
}
CUSTOM_PROMPT_ID = "custom"
TEXT_PLACEHOLDER = "{text}"


def resolve_prompt(prompt: str) -> Tuple[str, str]:
    """``"P1"``..``"P4"`` -> ``(id, verbatim prompt)``; any other non-empty string is a
    custom prompt: ``("custom", prompt)``."""
    if prompt in PROMPTS:
        return prompt, PROMPTS[prompt]
    if not prompt.strip():
        raise ValueError(f"the prompt is empty: pass one of {', '.join(PROMPTS)} or a custom text")
    return CUSTOM_PROMPT_ID, prompt


def build_user_message(prompt_text: str, previous_text: str) -> str:
    """The user turn: ``prompt_text`` with ``{text}`` replaced by ``previous_text``, or
    ``prompt_text + " " + previous_text`` when there is no placeholder."""
    if TEXT_PLACEHOLDER in prompt_text:
        return prompt_text.replace(TEXT_PLACEHOLDER, previous_text)
    return f"{prompt_text} {previous_text}"
