"""The web app's own strings in Chinese and English (packets bring their own, see
:mod:`detector.evidence.i18n`); words the packet or the terminal report already
say the same way are theirs, imported, not written again."""

from __future__ import annotations

from detector.evidence.i18n import UI as PACKET
from detector.report import MSG as REPORT

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "app": {"zh": "评价检测", "en": "review-detector"},
    "scans": {"zh": "扫描记录", "en": "Scans"},
    "new_scan": {"zh": "上传导出文件", "en": "Upload an export"},
    "folder_scan": {"zh": "扫描数据目录中的导出文件夹", "en": "Scan a folder of exports"},
    "file": {"zh": "导出文件（CSV、xlsx 或 Parquet）", "en": "Export file (CSV, xlsx or Parquet)"},
    "orders_file": {
        "zh": "订单导出文件（可选，按订单编号关联：签收时间、退款）",
        "en": "Order export (optional, joined on the order id: receipt time, refunds)",
    },
    "folder": {
        "zh": "文件夹（位于 --data 下的 exports/）",
        "en": "Folder (under exports/ in --data)",
    },
    "no_folders": {
        "zh": "数据目录的 exports/ 下没有可扫描的文件夹。",
        "en": "No folder with exports under exports/ in the data directory.",
    },
    "preset": {"zh": "平台导出格式", "en": "Export format"},
    "tz_placeholder": {
        "zh": "留空：平台默认（Asia/Shanghai），标准列名为 UTC",
        "en": "empty: the platform's (Asia/Shanghai); contract columns: UTC",
    },
    "columns": {
        "zh": "列名映射（可选，如 评价时间=created_at）",
        "en": "Column mapping (optional, e.g. 评价时间=created_at)",
    },
    "shop": {
        "zh": "店铺名称（导出文件没有店铺列时）",
        "en": "Shop (when the export has no shop column)",
    },
    "chars": {"zh": "字", "en": "characters"},
    "shop_label": PACKET["shop"],
    "timezone": {"zh": "导出文件的时区", "en": "Time zone of the export"},
    "start": {"zh": "开始扫描", "en": "Start the scan"},
    "max_upload": {"zh": "文件上限 {mb} MB", "en": "Files up to {mb} MB"},
    "state_queued": {"zh": "排队中", "en": "queued"},
    "state_running": {"zh": "扫描中", "en": "running"},
    "state_done": {"zh": "已完成", "en": "done"},
    "state_failed": {"zh": "失败", "en": "failed"},
    "created": {"zh": "创建时间", "en": "Created"},
    "source": {"zh": "来源", "en": "Source"},
    "state": {"zh": "状态", "en": "State"},
    "reviews": {"zh": "评价数", "en": "Reviews"},
    "flagged": {"zh": "可疑", "en": "Flagged"},
    "cases": PACKET["cases"],
    "no_scans": {"zh": "还没有扫描。", "en": "No scans yet."},
    "progress": {"zh": "进度", "en": "Progress"},
    "stage": {"zh": "当前步骤", "en": "Stage"},
    "refresh_note": {
        "zh": "页面每2秒自动刷新；可以关闭浏览器，稍后回来查看结果。",
        "en": "This page refreshes every 2 seconds; you can close the browser and come back later.",
    },
    "failed_title": {"zh": "扫描失败", "en": "The scan failed"},
    "failed_note": {
        "zh": "上传的文件和部分结果均未保留。请修正后重新上传。",
        "en": "Neither the upload nor any partial result was kept. Fix the file and upload it again.",
    },
    "shops": PACKET["shops"],
    "dashboard": {"zh": "店铺看板", "en": "Shop dashboard"},
    "positive_rate": {"zh": "好评率", "en": "Positive rate (好评率)"},
    "mean_rating": {"zh": "平均评分", "en": "Mean rating"},
    "negatives": {"zh": "差评数", "en": "Negative reviews (差评)"},
    "all_reviews": {"zh": "全部评价", "en": "All reviews"},
    "without_cases": {"zh": "剔除案件中的评价", "en": "Without the reviews in cases"},
    "alerts": {"zh": "预警", "en": "Alerts"},
    "alert": {"zh": "预警内容", "en": "Alert"},
    "alert_attack": {"zh": "恶意攻击", "en": "Attack"},
    "alert_quality": {"zh": "质量", "en": "Quality"},
    "alert_platform": {"zh": "平台红线", "en": "Platform line"},
    "alert_target": {"zh": "目标", "en": "Target"},
    "no_alerts": {"zh": "没有预警。", "en": "No alerts."},
    "date": {"zh": "日期", "en": "Date"},
    "rule": {"zh": "规则", "en": "Rule"},
    "value": {"zh": "数值", "en": "Value"},
    "threshold": {"zh": "阈值", "en": "Threshold"},
    "case": PACKET["case"],
    "no_cases": {"zh": "没有针对本店的案件。", "en": "No case harms this shop."},
    "order_id": {"zh": "订单编号", "en": "Order id"},
    "review_id": {"zh": "评价编号", "en": "Review id"},
    "time": PACKET["time"],
    "rating": {"zh": "评分", "en": "Rating"},
    "text": {"zh": "评价内容", "en": "Text"},
    "reasons": {"zh": "原因", "en": "Reasons"},
    "build_packet": {"zh": "生成申诉材料", "en": "Build the appeal packet"},
    "platform": PACKET["platform"],
    "packet": {"zh": "申诉材料", "en": "Appeal packet"},
    "download_zip": {"zh": "下载 zip", "en": "Download zip"},
    "download_csv": {"zh": "下载被引用评价 CSV", "en": "Cited reviews as CSV"},
    "open_packet": {"zh": "打开申诉材料页", "en": "Open the packet page"},
    "cards": {"zh": "证据卡片", "en": "Evidence cards"},
    "summary": PACKET["summary"],
    "appeal_text": {"zh": "申诉文字", "en": "Appeal text"},
    "view_case": {"zh": "查看案件", "en": "View the case"},
    "back": {"zh": "返回", "en": "Back"},
    "api_docs": {"zh": "API 文档", "en": "API documentation"},
    "rejected_rows": {"zh": "被拒绝的行", "en": "Rejected rows"},
    "attack": {"zh": "恶意攻击", "en": "attack"},
    "none": REPORT["none"],
    "days": {"zh": "天", "en": "days"},
    "error": {"zh": "错误", "en": "Error"},
    "kind": PACKET["kind"],
    "reviews_in_case": {"zh": "案件中的本店评价", "en": "This shop's reviews in the case"},
    "times_in": {"zh": "时间为 {tz}", "en": "Times in {tz}"},
    "delete": {"zh": "删除", "en": "Delete"},
    "delete_note": {
        "zh": "删除此扫描的上传文件、结果和申诉材料（导入的扫描目录本身保留）",
        "en": "Delete this scan's upload, results and packets (an imported scan's own folder stays)",
    },
    "alert_rules": {"zh": "预警规则", "en": "Alert rules"},
    "rules_in_use": {"zh": "当前预警规则", "en": "Alert rules in use"},
    "default_rules": {"zh": "默认规则", "en": "The default rules"},
    "rules_note": {
        "zh": "规则文件为 TOML，格式与 review-detector monitor --rules 相同：只需写出要修改或新增的规则。"
        "所有看板和 /api/scans/{id}/alerts 都使用这里选择的规则。",
        "en": "A TOML rules file, as for review-detector monitor --rules: only the rules it changes "
        "or adds. Every dashboard and /api/scans/{id}/alerts use the rules chosen here.",
    },
    "choose_rules": {"zh": "选择规则文件", "en": "Choose a rules file"},
    "rules_file": {"zh": "规则文件（.toml）", "en": "Rules file (.toml)"},
    "use_rules": {"zh": "使用此文件", "en": "Use this file"},
    "reset_rules": {"zh": "恢复默认规则", "en": "Back to the default rules"},
    "metric": {"zh": "指标", "en": "Metric"},
    "window": {"zh": "窗口", "en": "Window"},
    "rule_source": {"zh": "依据", "en": "Source"},
}


#: Export formats on the upload form (the keys of :data:`detector.input.presets.PRESETS`).
PRESET_NAMES = {
    "": {
        "zh": "标准列名（review_id、rating…）或下方映射",
        "en": "Contract columns (review_id, rating, …) or the mapping below",
    },
    "taobao": {"zh": "淘宝", "en": "Taobao"},
    "tmall": {"zh": "天猫", "en": "Tmall"},
    "jd": {"zh": "京东", "en": "JD"},
    "pdd": {"zh": "拼多多", "en": "Pinduoduo"},
    "douyin": {"zh": "抖音小店", "en": "Douyin shop"},
}


def preset_name(key: str, lang: str) -> str:
    return PRESET_NAMES.get(key, {}).get(lang, key)


#: The scan's stages (:mod:`detector.progress`) as the progress page names them.
STAGES = {
    "load": {"zh": "读取导出文件", "en": "reading the export"},
    "features": {"zh": "计算特征", "en": "computing features"},
    "fit": {"zh": "训练模型", "en": "fitting the model"},
    "score": {"zh": "打分", "en": "scoring"},
    "explain": {"zh": "生成原因", "en": "explaining"},
    "cases": {"zh": "关联案件", "en": "linking cases"},
    "write": {"zh": "写出结果", "en": "writing the results"},
}


def stage_name(name: str | None, lang: str) -> str:
    """A stage's name in ``lang`` (as recorded when it has none)."""
    return STAGES.get(name or "", {}).get(lang, name or "")


def t(key: str, lang: str, **kw) -> str:
    """The string ``key`` in ``lang`` (English when the key has no such language)."""
    entry = STRINGS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**kw) if kw else text


def pick_lang(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """``zh`` or ``en``: the ``?lang=`` choice, then the cookie, then Accept-Language."""
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > best_q:
            best, best_q = primary, q
    return best
