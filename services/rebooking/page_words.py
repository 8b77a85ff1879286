"""The choice page's words in the passengers' languages (English, Spanish, French, German), and
which language a request gets: the link's own (`?lang=`, which notify adds for the language the
passenger's messages are in), else the browser's (Accept-Language), else English. Pure: no I/O."""

from datetime import datetime, tzinfo

import babel.dates

from shared import airports

LANGUAGES = ("en", "es", "fr", "de")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your trip", "booking": "Booking", "sorry": "We're sorry your flight was disrupted.",
        "booked_on": "We've booked you on", "cabin": "Cabin", "keep": "Keep this flight",
        "answer_by": "Please answer by", "or_another": "Or choose another flight", "seats_left": "seats left",
        "take": "Take this flight instead", "or_not": "Or don't travel",
        "refund_text": "We'll refund your ticket in full, to the card or account you paid with.",
        "refund": "Refund me instead", "leaves": "leaves", "arrives": "arrives",
        "accepted": "Thank you: you're booked on", "changed": "Done: you're now booked on",
        "refunded": "Done: your booking is cancelled and your ticket will be refunded in full. We'll write to confirm "
                    "the amount.",
        "no_response": "The time to choose has passed; you're booked on",
        "by_text": "You can also answer by text: reply KEEP, CHANGE or REFUND.",
    },
    "es": {
        "title": "Su viaje", "booking": "Reserva", "sorry": "Sentimos que su vuelo se haya visto afectado.",
        "booked_on": "Le hemos reservado en", "cabin": "Clase", "keep": "Mantener este vuelo",
        "answer_by": "Responda antes del", "or_another": "O elija otro vuelo", "seats_left": "plazas libres",
        "take": "Elegir este vuelo", "or_not": "O no viaje",
        "refund_text": "Le reembolsamos el billete completo, a la tarjeta o cuenta con la que pagó.",
        "refund": "Prefiero el reembolso", "leaves": "sale", "arrives": "llega",
        "accepted": "Gracias: tiene plaza en", "changed": "Hecho: ahora tiene plaza en",
        "refunded": "Hecho: su reserva está cancelada y le reembolsaremos el billete completo. Le escribiremos para "
                    "confirmar el importe.",
        "no_response": "El plazo para elegir ha terminado; tiene plaza en",
        "by_text": "También puede responder por SMS: MANTENER, CAMBIAR o REEMBOLSO.",
    },
    "fr": {
        "title": "Votre voyage", "booking": "Réservation",
        "sorry": "Nous sommes désolés que votre vol ait été perturbé.",
        "booked_on": "Nous vous avons réservé sur", "cabin": "Classe", "keep": "Garder ce vol",
        "answer_by": "Merci de répondre avant le", "or_another": "Ou choisissez un autre vol",
        "seats_left": "places libres", "take": "Prendre ce vol à la place", "or_not": "Ou ne voyagez pas",
        "refund_text": "Nous vous remboursons intégralement, sur la carte ou le compte utilisé pour payer.",
        "refund": "Me faire rembourser", "leaves": "départ", "arrives": "arrivée",
        "accepted": "Merci : vous êtes réservé sur", "changed": "C'est fait : vous êtes maintenant réservé sur",
        "refunded": "C'est fait : votre réservation est annulée et votre billet sera remboursé intégralement. "
                    "Nous vous écrirons pour confirmer le montant.",
        "no_response": "Le délai pour choisir est passé ; vous êtes réservé sur",
        "by_text": "Vous pouvez aussi répondre par SMS : GARDER, CHANGER ou REMBOURSER.",
    },
    "de": {
        "title": "Ihre Reise", "booking": "Buchung", "sorry": "Es tut uns leid, dass Ihr Flug gestört ist.",
        "booked_on": "Wir haben Sie gebucht auf", "cabin": "Klasse", "keep": "Diesen Flug behalten",
        "answer_by": "Bitte antworten Sie bis", "or_another": "Oder wählen Sie einen anderen Flug",
        "seats_left": "Plätze frei", "take": "Stattdessen diesen Flug", "or_not": "Oder reisen Sie nicht",
        "refund_text": "Wir erstatten Ihr Ticket vollständig, auf die Karte oder das Konto, mit dem Sie bezahlt haben.",
        "refund": "Lieber erstatten", "leaves": "ab", "arrives": "an",
        "accepted": "Danke: Sie sind gebucht auf", "changed": "Erledigt: Sie sind jetzt gebucht auf",
        "refunded": "Erledigt: Ihre Buchung ist storniert, und Ihr Ticket wird vollständig erstattet. Wir schreiben "
                    "Ihnen den Betrag.",
        "no_response": "Die Zeit zum Wählen ist vorbei; Sie sind gebucht auf",
        "by_text": "Sie können auch per SMS antworten: BEHALTEN, ÄNDERN oder ERSTATTUNG.",
    },
}

# A problem's title in each language, by its English title (services/rebooking/answers.py).
PROBLEMS: dict[str, dict[str, str]] = {
    "Link not valid": {"es": "Enlace no válido", "fr": "Lien non valide", "de": "Link ungültig"},
    "Link expired": {"es": "Enlace caducado", "fr": "Lien expiré", "de": "Link abgelaufen"},
    "No such rebooking": {"es": "No hay tal reserva", "fr": "Réservation introuvable",
                          "de": "Keine solche Umbuchung"},
    "Replaced by a newer offer": {"es": "Hay una oferta más reciente", "fr": "Remplacé par une offre plus récente",
                                  "de": "Durch ein neueres Angebot ersetzt"},
    "Already answered": {"es": "Ya respondida", "fr": "Déjà répondu", "de": "Bereits beantwortet"},
    "Option not available": {"es": "Opción no disponible", "fr": "Option indisponible",
                             "de": "Option nicht verfügbar"},
    "Seats just taken": {"es": "Plazas recién ocupadas", "fr": "Places tout juste prises",
                         "de": "Plätze gerade vergeben"},
}
# What to do about any of them, in each language: the English detail says more, in English only.
PROBLEM_HELP = {"en": "", "es": "Use el último mensaje que le enviamos, o escríbanos.",
                "fr": "Utilisez notre dernier message, ou écrivez-nous.",
                "de": "Nutzen Sie unsere letzte Nachricht, oder schreiben Sie uns."}
_WHEN = {"en": "EEE d MMM HH:mm", "es": "EEE d MMM HH:mm", "fr": "EEE d MMM HH:mm", "de": "EEE, d. MMM HH:mm"}


def language_for(asked: str | None, accept_language: str | None) -> str:
    """The link's language if it names one we speak; else the first the browser prefers that we
    speak (RFC 9110's Accept-Language, by quality); else English."""
    if asked and asked.lower() in LANGUAGES:
        return asked.lower()
    preferred: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        preferred.append((-quality, n, tag.strip().split("-")[0].lower()))
    return next((tag for q, _, tag in sorted(preferred) if q < 0 and tag in LANGUAGES), "en")


def when(moment: datetime, airport: str, language: str) -> str:
    """'Sat 9 Feb 14:15' in the language, on the airport's own clock."""
    zone: tzinfo | None
    try:
        zone = airports.zone_of(airport)
    except KeyError:
        zone = moment.tzinfo
    return babel.dates.format_datetime(moment, _WHEN[language], tzinfo=zone, locale=language)
