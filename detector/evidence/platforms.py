"""What each platform's appeal form accepts, as data (see ``/work/shared/notes/appeals.md``).

Rules change; these are the shape of the forms. ``max_images`` and
``max_image_bytes`` bound the PNG cards written, ``summary_max_chars`` the
one-sentence summary and each per-review appeal text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MB = 1024 * 1024
#: Cards written when the platform sets no limit: a summary card and this many case cards.
DEFAULT_MAX_CASE_CARDS = 11


@dataclass(frozen=True)
class Platform:
    key: str
    name: dict[str, str]
    max_images: int | None = None
    max_image_bytes: int | None = None
    summary_max_chars: int | None = None
    appeal_window_days: int | None = None
    one_appeal_per_review: bool = False
    editable: bool = True
    notes: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "max_images": self.max_images,
            "max_image_bytes": self.max_image_bytes,
            "summary_max_chars": self.summary_max_chars,
            "appeal_window_days": self.appeal_window_days,
            "one_appeal_per_review": self.one_appeal_per_review,
            "editable": self.editable,
        }


PLATFORMS: dict[str, Platform] = {
    "generic": Platform(
        "generic",
        {"en": "generic", "zh": "通用"},
        notes={
            "en": [
                "Attach the cards as images and cite the case ids; packet.html holds the full evidence.",
            ],
            "zh": ["将证据卡片作为图片上传并注明案件编号；完整证据见 packet.html。"],
        },
    ),
    "douyin": Platform(
        "douyin",
        {"en": "Douyin shop", "zh": "抖音小店"},
        max_images=6,
        max_image_bytes=5 * MB,
        summary_max_chars=100,
        appeal_window_days=30,
        notes={
            "en": [
                "At most 6 images of at most 5 MB each and a description of at most 100 characters: "
                "upload the cards in their numbered order and paste description.txt.",
                "Accepted grounds include threats or cashback demands, professional negative "
                "reviewers, competitors and a bad review posted before delivery.",
                "Where you have them, add the full chat of the same order and the logistics sign-off; "
                "edited screenshots are rejected.",
                "Appeal within 30 days of the review; decided in 1-5 working days.",
            ],
            "zh": [
                "最多6张图片、每张不超过5 MB，说明不超过100字：按编号顺序上传卡片，并粘贴 description.txt 中的说明。",
                "可申诉的情形包括：威胁或索要返现、职业差评师、同行恶意差评、未签收先差评。",
                "如有，请附上同一订单的完整聊天记录和物流签收记录；经过编辑的截图会被驳回。",
                "请在评价发布后30天内申诉，平台1–5个工作日内处理。",
            ],
        },
    ),
    "taobao": Platform(
        "taobao",
        {"en": "Taobao / Tmall", "zh": "淘宝/天猫"},
        appeal_window_days=30,
        notes={
            "en": [
                "Removable: reviews used to extract money or benefits (professional negative "
                "reviewers, competitors, third-party fraud).",
                "Attach the chat record showing any threat together with this packet.",
                "Appeal within 30 days of the review; decided in 1-2 working days.",
            ],
            "zh": [
                "可删除：以评价谋取额外钱财或利益（职业差评师、同行、第三方诈骗）。",
                "如有威胁，请连同本材料一并提交显示威胁内容的聊天记录。",
                "请在评价发布后30天内申诉，平台1–2个工作日内处理。",
            ],
        },
    ),
    "jd": Platform(
        "jd",
        {"en": "JD", "zh": "京东"},
        appeal_window_days=30,
        one_appeal_per_review=True,
        notes={
            "en": [
                "One appeal per review and a rejection is final: appeal each cited review once, "
                "with its line from appeals.csv and its case card.",
                "Accepted: competitors, threats, false or irrelevant content; false material is penalised.",
                "Appeal within 30 days of the review.",
            ],
            "zh": [
                "每条评价只能申诉一次，驳回即为最终结果：请逐条申诉，使用 appeals.csv 中对应的说明并附上所属案件卡片。",
                "可申诉：同行恶意评价、以评价要挟、虚假或无关内容；提交虚假材料会被处罚。",
                "请在评价发布后30天内申诉。",
            ],
        },
    ),
    "pdd": Platform(
        "pdd",
        {"en": "Pinduoduo", "zh": "拼多多"},
        one_appeal_per_review=True,
        editable=False,
        notes={
            "en": [
                "One report per review and it cannot be edited: check each line of appeals.csv before filing.",
                "Images are accepted only in the extortion (利用评价要挟) and competitor "
                "(同行恶意差评) categories: file smear and professional-negative cases there.",
                "Manual review within 5 working days.",
            ],
            "zh": [
                "每条评价只能举报一次且不可修改：提交前请逐条核对 appeals.csv。",
                "仅“利用评价要挟”和“同行恶意差评”类别可上传图片：恶意差评和职业差评师案件请选择这两类。",
                "人工审核，5个工作日内处理。",
            ],
        },
    ),
}
