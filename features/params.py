"""Windows and caps shared by the feature steps.

They are recorded in ``summary.json`` and evidence packets so a result can be
reproduced; change them here, not inside a step.
"""

from __future__ import annotations

HOUR = 3_600
DAY = 86_400

#: Half-width of the window in which same-polarity reviews count as one burst.
BURST_WINDOW_S = 12 * HOUR
#: A group's baseline rate is measured over at least this long, so a young
#: product or address does not set its own burst as the norm.
BASELINE_FLOOR_S = 30 * DAY
#: Half-width of the window for reviewers sharing an address or network.
IDENTITY_WINDOW_S = 24 * HOUR
#: An address's share of a shop's reviewers is smoothed as if the shop had this
#: many more reviewers (one in ten until its history says otherwise).
SHARE_PRIOR = 10.0
#: Half-width of the window for near-duplicate texts at one shop.
TEXT_WINDOW_S = 72 * HOUR
#: Two reviewers "co-review" a product when their reviews are this close.
COREVIEW_WINDOW_S = 48 * HOUR
#: Only this many nearest neighbours in time are paired on a product, so a hub
#: product with thousands of buyers does not create a quadratic number of pairs.
HUB_CAP = 50
#: Reviewer pairs need this many distinct co-reviewed products to form a ring edge.
RING_MIN_PRODUCTS = 3
#: ... and this share of the less active reviewer's distinct products.
RING_MIN_SHARE = 0.3
#: ... and this Poisson surprise (-log10 p) against the co-reviews the timing of
#: the products both reviewed explains by chance.
RING_MIN_SURPRISE = 3.0
#: Users with at most this many reviews count as fresh accounts.
FRESH_MAX_REVIEWS = 2
#: A burst counts as fresh only when fresh accounts make at least this share of the window's
#: other reviews of the product ...
FRESH_MIN_SHARE = 0.5
#: ... far beyond their usual share (binomial -log10 p at least this, see
#: :func:`features.windows.share_surprise`): a flash sale brings fresh buyers in proportion.
FRESH_SHARE_SURPRISE = 2.0
#: Pseudo-reviews at the market's fresh share that a shop's own share is shrunk with.
FRESH_SHOP_PSEUDO = 50.0
#: A text written by at least this many reviewers is a common phrase, not a
#: template, when its writers at no shop ever come faster than the phrase's
#: own rate there predicts by this Poisson surprise (-log10 p).
COMMON_PHRASE_USERS = 20
COMMON_PHRASE_SURPRISE = 6.0
#: ... nor in this half-width: a campaign spread over weeks.
PHRASE_SLOW_WINDOW_S = 14 * DAY
#: A device's accounts count as one product's reviewers only when at least this share
#: of the device's accounts reviewed it (a placeholder or model name is no phone).
DEVICE_PRODUCT_SHARE = 0.25
#: ... and only the accounts whose review of the product falls in the review's
#: week or the weeks either side (all within 14 days of it): a farm's phone
#: praises a product in days; the same phone's cover reviews of it months
#: apart are no campaign.
DEVICE_PRODUCT_BUCKET_S = 7 * DAY
