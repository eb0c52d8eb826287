"""Hand-written cue patterns (English and Italian) that explain and back up the trained flags.

The labelled data has few angry and urgent examples and no Italian complaints, so the phrases the
guideline names ("scam", "worst ever", "charged twice", "stranded", "rimborso") are matched directly;
each cue carries the short reason an agent sees.
"""
from __future__ import annotations

import re

from sentiment.phrases import PhraseList, PhraseSet, TextKeys, phrase_list, text_keys

__all__ = [
    "ANGRY_CUES", "COMPLAINT_CUES_IT", "MARKETING_CUES", "MONEY_TAKEN", "MONEY_TAKEN_REASON", "PROBLEM_CUES",
    "SALES_CUES", "URGENT_CUES", "matches", "shouting", "text_keys",
]


def _cue(reason: str, *phrases: str) -> PhraseList:
    return phrase_list(reason, phrases)


ANGRY_CUES = PhraseSet((
    _cue(
        "insults or swearing",
        r"fuck\w*", r"fuu+c+k\w*", r"fucc+k\w*", r"wtf", r"shit\w*", r"bullshit", r"crap+y?", r"damn", r"idiots?", r"morons?",
        r"stupid", r"pathetic", r"useless", r"incompetent", r"joke of a", r"bastards?", r"assholes?",
        r"cazz\w*", r"vaffanculo", r"merda", r"schifo\w*", r"vergogn\w+", r"ladri", r"incompetenti",
        r"idioti", r"pagliacci", r"truffa(?:tori)?", r"porca (?:miseria|puttana)",
    ),
    _cue(
        "threatens to leave",
        r"never (?:again|fly(?:ing)? (?:with )?you|buy(?:ing)? from you)", r"switch(?:ing)? to",
        r"cancel(?:l?ing)? my (?:account|subscription|membership|card)", r"last time i", r"done with you",
        r"lost a customer", r"mai più", r"cambio (?:operatore|gestore|compagnia)", r"disdic\w+",
    ),
    _cue(
        "threatens to go public",
        r"going viral", r"tell everyone", r"report(?:ing)? you to", r"better business bureau", r"bbb",
        r"consumer (?:rights|protection)", r"trading standards", r"all my followers",
        r"lo dico a tutti", r"denunci\w+", r"striscia la notizia", r"altroconsumo",
    ),
    _cue(
        "'worst' / 'scam'",
        r"worst", r"scam+(?:mers?)?", r"disgusting", r"disgrace(?:ful)?", r"horrible", r"terrible",
        r"awful", r"ridiculous", r"unacceptable", r"rip-?off", r"fraud", r"shame on you",
        r"peggior\w*", r"pessim\w+", r"inaccettabile", r"ridicol\w+", r"vergognoso", r"schifoso",
    ),
))

URGENT_CUES = PhraseSet((
    _cue(
        "money taken wrongly",
        r"charged (?:me )?(?:twice|double|two times|three times|again|wrong(?:ly)?)", r"double[- ]charged?",
        r"overcharged", r"unauthori[sz]ed (?:charge|payment|transaction)s?", r"took my money",
        r"stole my money", r"money (?:taken|gone|missing)", r"fraudulent charge",
        r"addebit\w* (?:due volte|doppi\w*|non autorizzat\w*)", r"doppio addebito",
        r"soldi (?:spariti|rubati|presi)",
    ),
    _cue(
        "travel happening now",
        r"stranded", r"stuck (?:at|in) (?:the )?(?:airport|gate|terminal|tarmac)", r"on the tarmac",
        r"missed (?:my )?(?:connection|connecting flight|flight)", r"flight (?:is )?(?:today|tonight|in \d+)",
        r"boarding (?:in|at) \d+", r"departs? (?:in|at) \d+", r"leaving (?:in|at) \d+", r"at the (?:gate|airport) (?:now|right now)",
        r"no (?:hotel|place to sleep)", r"bloccat\w+ in aeroporto", r"volo (?:di )?(?:oggi|stasera)",
        r"perso (?:la )?coincidenza",
    ),
    _cue(
        "safety",
        r"unsafe", r"dangerous", r"injur(?:y|ed|ies)", r"hurt (?:me|my)", r"fire", r"smoke", r"explod\w+",
        r"burn(?:ed|t|ing)", r"food poisoning", r"glass in", r"allergic reaction", r"hospital",
        r"pericolos\w+", r"ferit\w+", r"ospedale", r"intossicazione", r"incendio",
    ),
    _cue(
        "legal threat",
        r"lawyers?", r"attorney", r"sue(?:ing)? you", r"legal action", r"lawsuit", r"small claims",
        r"court", r"avvocat\w+", r"vie legali", r"querel\w+",
    ),
    _cue(
        "account locked",
        r"locked out", r"account (?:is )?(?:locked|suspended|blocked|disabled|hacked)", r"hacked",
        r"can'?t (?:log ?in|access my account|sign in)", r"account (?:bloccato|sospeso|hackerato)",
        r"non riesco (?:ad|a) accedere",
    ),
))

MONEY_TAKEN = PhraseSet(URGENT_CUES.lists[:1])
MONEY_TAKEN_REASON = URGENT_CUES.lists[0].name

COMPLAINT_CUES_IT = PhraseSet((
    _cue(
        "complaint",
        r"non funziona\w*", r"non (?:è|e') (?:arrivat\w+|funzionante)", r"ancora (?:niente|nulla|non)",
        r"nessuna risposta", r"rimbors\w+", r"reclam\w+", r"disservizi\w*", r"guast\w+", r"rott\w+",
        r"in ritardo", r"ritardo", r"mai arrivat\w+", r"cancellat\w+", r"addebit\w+", r"pessim\w+",
        r"vergogn\w+", r"schifo\w*", r"delus\w+", r"inaccettabile", r"assistenza inesistente",
        r"aspetto da", r"sto aspettando",
    ),
))


def matches(cues: PhraseSet, text: str, keys: TextKeys | None = None) -> tuple[str, ...]:
    """Reasons of the cues found in `text`, in cue order; `keys` are the text's `text_keys` if known."""
    return cues.matches(text, keys)


_CAPS_RUN_RE = re.compile(r"[A-Z]{3}")
_CAPS_WORD_RE = re.compile(r"(?<![@#\w])[A-Z]{3,}(?!\w)")
_WORD_RE = re.compile(r"(?<![@#\w])[^\W\d_]{3,}(?!\w)")


def shouting(text: str) -> bool:
    """Mostly capitals over several words, or a run of three or more exclamation marks."""
    if "!!!" in text:
        return True
    if _CAPS_RUN_RE.search(text) is None:  # most posts: no capital run at all, so no scan for words
        return False
    caps = len(_CAPS_WORD_RE.findall(text))
    if caps < 3:
        return False
    return caps >= 0.6 * len(_WORD_RE.findall(text))


MARKETING_CUES = PhraseSet((
    _cue(
        "partnership or press request",
        r"partner(?:ship)?s?", r"partner with", r"collab(?:oration|orate)?", r"sponsor(?:ship|ed|ing)?",
        r"influencers?", r"brand ambassador", r"ambassadors?", r"press (?:inquiry|enquiry|release|kit)",
        r"journalist", r"media (?:inquiry|enquiry|kit)", r"work(?:ing)? with your brand", r"giveaways?",
        r"contest", r"collaborazion\w+", r"collaborare", r"sponsorizza\w+", r"giornalist\w+",
        r"ufficio stampa", r"concorso", r"omaggio",
    ),
))

_NEW_SERVICE = r"(?:flying|offering|selling|making|carrying|stocking|shipping)"
_ASKING = ("will", "would", "could", "can")
_TRADE_ROLE = r"(?:reseller|stockist|distributor|dealer|retailer|wholesaler)"
_TRADE_ROLES = r"(?:resellers|stockists|distributors|dealers|retailers|wholesalers)"
SALES_CUES = PhraseSet((
    # Questions before buying, wishes for the range and shops asking to sell it: the guideline's sales
    # leads and product suggestions, which read like support requests ("do you sell", "when will it be
    # in the UK", "we would like to stock your products").
    _cue(
        "sales lead",
        r"do you (?:guys )?(?:sell|stock|carry|make|ship to|deliver to)", r"is (?:it|this|that) (?:available|in stock)",
        r"are (?:they|these|those) (?:available|in stock)",
        r"when (?:will|are|is|do) (?:you|we|they|it|these|this|those|the)\b[^.?!\n]{0,40}?"
        r"(?:available|in stock|launch\w*|releas\w*|come out|coming (?:out|back|to)|be in|back in)",
        r"any plans? (?:to|for|on)", r"what size", r"comes? with", r"where can (?:i|we) (?:buy|order|purchase)",
        r"restock\w*", r"back in stock", r"pre-?order\w*",
        r"quando (?:sar[àa]|saranno|arriva|arriver[àa]|torna|torner[àa])\b[^.?!\n]{0,40}?(?:disponibil\w+|in vendita|in negozio)",
        r"dove (?:posso|si pu[òo]) (?:comprar\w*|acquistar\w*|trovar\w*)", r"vendete", r"rimettete in vendita",
    ),
    _cue(
        "product wish",
        r"bring back", r"bringing back", r"please add more", r"please (?:start|begin) " + _NEW_SERVICE,
        *(verb + r" you (?:guys )?(?:please )?(?:ever )?(?:start|begin) " + _NEW_SERVICE for verb in _ASKING),
        *(verb + r" you (?:guys )?(?:please )?(?:ever )?(?:bring|add) (?:back|more)" for verb in _ASKING),
        r"riportate", r"tornate a (?:vendere|fare|produrre)",
    ),
    _cue(
        "reseller or wholesale lead",
        *(lead + r" your (?:products?|range|brand|items|goods|line)"
          for lead in ("to stock", "to resell", "in stocking", "in reselling", "start stocking", "start selling")),
        r"sell(?:ing)? your (?:products?|range|brand|items|line) (?:in|at|through) (?:my|our)",
        r"become (?:a|an|your) " + _TRADE_ROLE, r"become one of your " + _TRADE_ROLES,
        *(asking + " " + verb + r" (?:new )?" + _TRADE_ROLES
          for asking in ("are you", "you're", "you are") for verb in ("looking for", "searching for", "accepting", "recruiting")),
        r"wholesale (?:prices?|pricing|enquir\w+|inquir\w+|account|terms|catalog\w*|discounts?)",
        r"reseller (?:program\w*|account|terms|prices?|pricing|discounts?)",
        r"trade (?:account|prices?|pricing|discounts?)",
        *(verb + r" i vostri prodotti" for verb in ("vendere", "rivendere", "distribuire")), r"nuovi (?:rivenditori|distributori)",
        r"diventare (?:un |una )?(?:vostr[oai] )?(?:rivenditor[ei]|rivenditrice|distributor[ei]|distributrice)",
        r"cercate (?:rivenditori|distributori)", r"all['’]ingrosso", r"prezzi (?:per )?rivenditori", r"listino (?:per )?rivenditori",
    ),
))
PROBLEM_CUES = PhraseSet((
    # Something the customer has is broken, missing or wrong: with a complaint, that is a support
    # problem even when the post also asks about buying ("arrived broken, do you sell spare parts?").
    _cue(
        "reports a fault or loss",
        r"broken", r"broke", r"damaged", r"defective", r"faulty", r"missing", r"lost", r"stolen",
        r"never (?:arrived|came|received|showed up)",
        *(verb + r" (?:arrived|received|come)" for verb in ("hasn'?t", "has not", "didn'?t", "did not", "haven'?t", "have not", "not")),
        r"not working", *(verb + r" work\w*" for verb in ("doesn'?t", "does not", "don'?t", "won'?t", "isn'?t", "stopped")),
        r"wrong (?:item|size|order|colou?r|product)", r"refund\w*", r"charged", r"cancel+ed", r"delayed", r"stuck",
        r"error", r"rott\w+", r"guast\w+", r"danneggiat\w+", r"difettos\w+", r"non funziona\w*", r"mai arrivat\w+",
        r"non (?:è|e') (?:ancora )?arrivat\w+", r"smarrit\w+", r"rimbors\w+", r"addebit\w+",
    ),
))
