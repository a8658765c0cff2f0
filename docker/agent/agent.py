"""Reply text, token splitting and query intents of the reference agent.

Everything here is deterministic so that tests can predict the output. Replies
and intent messages are in pt-BR unless the chat locale starts with "en".
"""

import re
import unicodedata
from typing import Dict, Iterable, List

import data

UNKNOWN_QUERY_MESSAGE = (
    "Não entendi a pergunta. Tente: buscar paciente, consultas de hoje "
    "ou pagamentos pendentes."
)

# Keyword stems matched at the start of a word of the normalized query, so
# "consultas" matches "consulta" and "agendamento" matches "agenda".
APPOINTMENT_KEYWORDS = ("consulta", "agenda")
PAYMENT_KEYWORDS = ("pagamento", "financeiro", "fatura")

# Words between "paciente" and the name that are not part of the name.
NAME_FILLER_WORDS = {"a", "o", "de", "do", "da", "chamado", "chamada", "com", "nome"}


def build_reply(content: str, locale: str) -> str:
    """Build the assistant reply to a chat message."""
    if locale.lower().startswith("en"):
        return (
            f'Hello! I received your message: "{content}". '
            "How can I help with your clinic today?"
        )
    return (
        f'Olá! Recebi sua mensagem: "{content}". '
        "Como posso ajudar com sua clínica hoje?"
    )


def split_tokens(text: str) -> List[str]:
    """Split text into word tokens that keep their trailing whitespace.

    Joining the tokens gives back the text, provided it does not start with
    whitespace (replies from build_reply never do).
    """
    return re.findall(r"\S+\s*", text)


def count_words(texts: Iterable[str]) -> int:
    """Count whitespace-separated words, the agent's stand-in for a tokenizer."""
    return sum(len(text.split()) for text in texts)


def normalize(text: str) -> str:
    """Casefold text and strip accents, so "Paciente João" matches "paciente joao"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def answer_query(query: str) -> Dict:
    """Detect the intent of a pt-BR query and return the matching synthetic data.

    "paciente" wins over the other keywords, so "consultas do paciente João"
    searches patients. "buscar" alone counts as a patient search only when no
    appointment or payment keyword is present.
    """
    text = normalize(query)

    if has_keyword(text, ("paciente",)):
        return search_patients(name_after(text, "paciente"))
    if has_keyword(text, APPOINTMENT_KEYWORDS):
        return {"intent": "appointments", "appointments": data.APPOINTMENTS}
    if has_keyword(text, PAYMENT_KEYWORDS):
        return {"intent": "payments", "payments": data.PAYMENTS}
    if has_keyword(text, ("buscar",)):
        return search_patients(name_after(text, "buscar"))
    return {"intent": "unknown", "message": UNKNOWN_QUERY_MESSAGE}


def has_keyword(text: str, stems: Iterable[str]) -> bool:
    """Return whether a word of the normalized text starts with one of the stems."""
    return any(re.search(rf"\b{re.escape(stem)}", text) for stem in stems)


def name_after(text: str, keyword: str) -> List[str]:
    """Return the words after the first word starting with keyword, minus filler words."""
    match = re.search(rf"\b{re.escape(keyword)}\w*(.*)", text)
    words = re.findall(r"\w+", match.group(1)) if match else []
    return [word for word in words if word not in NAME_FILLER_WORDS]


def search_patients(name_words: List[str]) -> Dict:
    """Build the patient_search result: patients whose name contains every word.

    With no words, every patient matches.
    """
    patients = [
        patient
        for patient in data.PATIENTS
        if set(name_words) <= set(normalize(patient["name"]).split())
    ]
    return {
        "intent": "patient_search",
        "search_term": " ".join(name_words),
        "patients": patients,
    }
