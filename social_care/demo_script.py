"""The demo's customers and what they write: our own text, in English and Italian."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoCustomer:
    chat_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str


@dataclass(frozen=True)
class DemoXCustomer:
    user_id: str
    username: str
    name: str
    followers: int = 0
    verified: bool = False


@dataclass(frozen=True)
class DemoXLine:
    """A demo customer on X: a public mention (optionally replying to their previous one) or a DM."""

    after: float
    customer: DemoXCustomer
    text: str
    dm: bool = False
    thread: bool = False


@dataclass(frozen=True)
class DemoLine:
    """One thing a demo customer does, `after` seconds after the previous line."""

    after: float
    customer: DemoCustomer
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    edit_of_previous: bool = False


GIULIA = DemoCustomer(70001, "Giulia", "Bianchi", "giuliab", "it")
TOM = DemoCustomer(70002, "Tom", "Harper", "tomharper", "en")
MARCO = DemoCustomer(70003, "Marco", "Esposito", None, "it")
PRIYA = DemoCustomer(70004, "Priya", "Nair", "priya_n", "en")
ELENA = DemoCustomer(70005, "Elena", "Conti", "elenaconti", "it")
SAM = DemoCustomer(70006, "Sam", None, "sam_builds", "en")

SCRIPT: tuple[DemoLine, ...] = (
    DemoLine(1, TOM, "Hi, I was charged twice for order 4471 and the refund still hasn't shown up. Can someone check?"),
    DemoLine(3, GIULIA, "Buongiorno, il pacco doveva arrivare ieri ma il tracking è fermo da tre giorni."),
    DemoLine(3, PRIYA, "Just wanted to say the new app update is brilliant, checkout takes seconds now!"),
    DemoLine(4, MARCO, "Sono di nuovo senza connessione, è la terza volta questa settimana. Pessimo servizio."),
    DemoLine(3, TOM, "Order 4471. It's been 9 days!!"),
    DemoLine(4, SAM, "Hello! I run a small tech channel (40k subscribers) and would love to review your product. Who should I talk to?"),
    DemoLine(3, ELENA, "Ciao! Avete intenzione di aprire un negozio a Torino?"),
    DemoLine(3, GIULIA, None, {"photo": True, "caption": "Ecco la foto dello scatolo arrivato rotto"}),
    DemoLine(4, MARCO, "Sono di nuovo senza connessione, è la terza volta questa settimana. Servizio pessimo, disdico.",
             edit_of_previous=True),
    DemoLine(3, PRIYA, "Quick question: does the premium plan include the family sharing feature?"),
    DemoLine(4, TOM, "If this isn't sorted today I'm disputing the charge with my bank."),
    DemoLine(3, ELENA, None, {"location": {"latitude": 45.0703, "longitude": 7.6869}}),
    DemoLine(4, SAM, None, {"document": {"file_name": "media-kit.pdf", "mime_type": "application/pdf", "file_size": 482133}}),
    DemoLine(5, GIULIA, "Grazie per la risposta veloce, aspetto notizie."),
)


# What the demo's agent writes when she hands Priya's pre-sale question to marketing.
PRESALE_NOTE = "Pre-sale question about the premium plan: a possible upgrade, over to you."


NINA = DemoXCustomer("90001", "nina_travels", "Nina Ferri", followers=48_200, verified=True)
JAKE = DemoXCustomer("90002", "jake_codes", "Jake Morgan", followers=310)
CHIARA = DemoXCustomer("90003", "chiaram", "Chiara Marino", followers=1_250)

X_CUSTOMERS = (NINA, JAKE, CHIARA)

X_SCRIPT: tuple[DemoXLine, ...] = (
    DemoXLine(2, NINA, "@acme my flight voucher code was rejected at checkout, and the offer expires tonight. Anyone there?"),
    DemoXLine(5, CHIARA, "@acme complimenti per la nuova collezione, i colori sono stupendi!"),
    DemoXLine(4, JAKE, "Hi, I'd like to talk about a partnership for our developer conference in March.", dm=True),
    DemoXLine(6, NINA, "@acme still waiting... 2 hours now. Really disappointing.", thread=True),
    DemoXLine(5, CHIARA, "Ho fatto un ordine ieri ma non ho ricevuto la mail di conferma, è normale?", dm=True),
)
