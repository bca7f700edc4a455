"""Email preparation per recipient (content.email) against the naive per-recipient pipeline.

Run from the repository root: `python bench/bench_email_prepare.py`. For a 10 kB newsletter with a
<style> block, three variables and the custom links, prints µs per recipient of:
- ours: css-inline and html2text once per send (email_template_prepare), then per recipient two
  compiled renders, the signed links and click/open tracking (email_html_prepare);
- naive: the same steps with css-inline and html2text run for every recipient;
- limit: one compiled render of the already-inlined HTML, the least any personalised send does.
All three are measured in the same run.
"""

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from content.email import (  # noqa: E402
    Signers,
    css_inline_html,
    custom_links_replace,
    email_html_prepare,
    email_template_prepare,
    text_alternative,
)
from messaging.rendering import compile_template  # noqa: E402

ROW = (
    '<tr><td class="cell"><h2 class="title">Offer {n}</h2><p class="text">Dear {name}, this week in {city} '
    'we have something for you. <a href="https://shop.example.com/p/{n}">See the offer</a></p></td></tr>'
)
NEWSLETTER = (
    "<html><head><style>.cell{padding:12px;border-bottom:1px solid #ddd}.title{color:#1f5fbf;font-size:20px}"
    ".text{color:#333;line-height:1.5}a{color:#1f5fbf}</style></head><body><table>"
    + "".join(ROW.replace("{n}", str(index)) for index in range(25))
    + '</table><p><a href="[show_link]">View online</a> · <a href="[form_1]">Survey</a> · '
    '<a href="[unsubscribe_link]">Unsubscribe</a></p></body></html>'
)
VALUES = {"name": "Ana", "city": "Sevilla", "UNSUB_URL": "https://example.com/u/x"}


def per_call_us(func, number: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def main() -> None:
    prepared = email_template_prepare(account=None, body=NEWSLETTER, check=False)
    signers = Signers.create()

    def ours(track_clicks: bool = True) -> None:
        email_html_prepare(
            prepared, html_values=VALUES, text_values=VALUES, public_id="2L1ABCDEFGHIJ",
            track_opens=True, track_clicks=track_clicks, signers=signers,
        )  # fmt: skip

    def naive() -> None:
        html = css_inline_html(custom_links_replace(NEWSLETTER, account=None, check=False))
        compile_template(html).render(VALUES)
        compile_template(text_alternative(html)).render(VALUES)

    inlined = prepared.html

    def limit() -> None:
        inlined.render(VALUES)

    ours_us = per_call_us(ours, 300)
    untracked_us = per_call_us(lambda: ours(track_clicks=False), 300)
    naive_us, limit_us = per_call_us(naive, 30), per_call_us(limit, 3000)
    print(f"newsletter: {len(NEWSLETTER) / 1024:.1f} kB, 25 links, 3 variables, custom links, opens tracked")
    print(f"{'ours, clicks tracked':<28} {ours_us:>10.1f} µs/recipient")
    print(f"{'ours, clicks not tracked':<28} {untracked_us:>10.1f} µs/recipient")
    ratio = naive_us / ours_us
    print(f"{'naive (inline+text each)':<28} {naive_us:>10.1f} µs/recipient   naive/ours {ratio:.1f}x")
    to_limit = untracked_us / limit_us
    print(f"{'limit (one render)':<28} {limit_us:>10.1f} µs/recipient   ours untracked/limit {to_limit:.1f}x")
    print(f"=> 1,000,000 recipients: ours {ours_us:.0f} s of CPU, naive {naive_us:.0f} s")


if __name__ == "__main__":
    main()
