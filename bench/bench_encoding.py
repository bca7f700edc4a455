"""Micro-benchmark of messaging.encoding.measure() against a naive per-character loop.

Run from the repository root: `python bench/bench_encoding.py`. Prints µs per call and the speed-up
ratio (naive / measure) for typical GSM, GSM-PT and UTF-16 messages, measured in the same run.
"""

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messaging.encoding import (
    GSM_BASIC,
    GSM_EXTENDED,
    GSM_PT_BASIC,
    GSM_PT_EXTENDED,
    PART_LIMIT,
    SINGLE_LIMIT,
    measure,
)

TEXTS = {
    "gsm, 100 ASCII chars": (
        "gsm",
        "Hola Juan, tu pedido 12345 ha sido enviado. Sigue el envio en https://ex.com/p/abc?x=1 Gracias!",
    ),
    "gsm, 100 chars with é ñ €": (
        "gsm",
        "Bonjour Chloé, votre commande 12345 (49,90€) est expédiée. Suivez-la sur https://ex.com/p/ñ Merci!",
    ),
    "gsm, 100 chars with ó (not GSM)": (
        "gsm",
        "Hola Iñaki, tu pedido 12345 ya salió: 49,90€. Sigue el envío en https://ex.com/p/abc Gracias!",
    ),
    "gsm, 300 chars with €": ("gsm", ("Oferta del dia: 20€ de descuento en tu proxima compra. " * 6)[:300]),
    "gsm-pt, 100 chars": (
        "gsm-pt",
        "Olá João, a sua encomenda 12345 já foi enviada. Acompanhe em https://ex.com/p/abc Obrigado!",
    ),
    "utf-16, 60 chars Cyrillic": ("utf-16", "Привет, Иван! Ваш заказ 12345 отправлен. Спасибо за покупку!"),
    "utf-16, 100 chars with emoji": ("utf-16", ("Hola 😀 ¡oferta! " * 7)[:100]),
}


def naive_measure(text: str, encoding: str) -> tuple[int, int]:
    """The obvious implementation: classify and fill parts one character at a time."""
    if encoding == "utf-16":
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    else:
        basic, extended = (GSM_BASIC, GSM_EXTENDED) if encoding == "gsm" else (GSM_PT_BASIC, GSM_PT_EXTENDED)
        costs = []
        for char in text:
            if char in basic:
                costs.append(1)
            elif char in extended:
                costs.append(2)
            else:
                costs.append(1)
    units = sum(costs)
    if units <= SINGLE_LIMIT[encoding]:
        return units, 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > PART_LIMIT[encoding]:
            parts, used = parts + 1, 0
        used += cost
    return units, parts


def per_call_us(func, number: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=7)) / number * 1e6


def main() -> None:
    number = 20_000
    print(f"{'text':<32} {'measure() µs':>13} {'naive µs':>10} {'ratio':>7}")
    for label, (encoding, text) in TEXTS.items():
        fast = measure(text, encoding)
        assert (fast.units, fast.parts) == naive_measure(text, encoding), label
        fast_us = per_call_us(lambda t=text, e=encoding: measure(t, e), number)
        naive_us = per_call_us(lambda t=text, e=encoding: naive_measure(t, e), number)
        print(f"{label:<32} {fast_us:>13.2f} {naive_us:>10.2f} {naive_us / fast_us:>6.1f}x")


if __name__ == "__main__":
    main()
