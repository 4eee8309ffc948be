"""The words the changed-fact check (``app/facts.py``) looks for, and which of them mean the same.

Kept apart from the checking logic so a lawyer can read and argue with the tables alone.

Synonyms (one role id, so swapping them is NOT a change of party):
  经营者 ≈ 商家 ≈ 商户; 生产者 ≈ 生产商 ≈ 制造者 ≈ 制造商 ≈ 厂家; 销售者 ≈ 销售商;
  使用者 ≈ 用户 ≈ 您 (the agreement addresses its user as 您); 被侵权人 ≈ 受害人 ≈ 受害者;
  侵权人 ≈ 加害人; 提供者 ≈ 服务提供者 ≈ 服务商 ≈ 生成式人工智能服务提供者 (and the other
  "…服务提供者" of the AI rules); 智谱 ≈ 大模型开放平台 (the agreement's own definition).
Generalisations (a statement may name the wider role of a passage's narrower one, never the reverse):
  网络服务提供者 → 提供者; 电子商务平台经营者 → 平台, 电子商务经营者, 经营者; 平台内经营者 →
  电子商务经营者, 经营者; 网络用户 → 用户; 著作权人 → 权利人; 智谱 → 平台, 提供者; 网络运营者 → 运营者.
Deliberately NOT related: 生产者/销售者 vs 经营者 (who is liable is the point of 第一千二百零二条
and 第一千二百零三条), 用户 vs 消费者 (consumer status is a legal question), 网络服务提供者 vs the
AI rules' 服务提供者.

Modality classes: 应当 ≈ 必须 ≈ 应 ≈ 须 (obligation); 可以 ≈ 有权 ≈ 允许 ≈ 可 (permission); 不得 ≈ 禁止 ≈ 严禁 ≈
不应当 (prohibition); 无须 ≈ 无需 ≈ 不必 (exemption); 无权 (no right).  Any change of class is a change.
"""

from __future__ import annotations

import re

ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "producer": ("生产者", "生产商", "制造者", "制造商", "厂家"),
    "seller": ("销售者", "销售商"),
    "operator": ("经营者", "商家", "商户"),
    "ecommerce_operator": ("电子商务经营者", "电商经营者"),
    "platform_operator": ("电子商务平台经营者", "平台经营者"),
    "in_platform_operator": ("平台内经营者",),
    "consumer": ("消费者",),
    "provider": (
        "提供者",
        "服务提供者",
        "服务商",
        "生成式人工智能服务提供者",
        "深度合成服务提供者",
        "算法推荐服务提供者",
        "服务提供方",
    ),
    "network_service_provider": ("网络服务提供者",),
    "technical_supporter": ("技术支持者",),
    "user": ("使用者", "用户", "服务使用者", "您"),
    "network_user": ("网络用户",),
    "platform": ("平台", "平台方", "本平台"),
    "zhipu": ("智谱", "大模型开放平台", "大模型开放平台服务提供者"),
    "tortfeasor": ("侵权人", "加害人"),
    "victim": ("被侵权人", "受害人", "受害者"),
    "actor": ("行为人",),
    "third_party": ("第三人", "第三方"),
    "pi_handler": ("个人信息处理者", "处理者"),
    "data_handler": ("数据处理者",),
    "individual": ("个人",),
    "network_operator": ("网络运营者",),
    "runner": ("运营者",),
    "rights_holder": ("权利人",),
    "copyright_owner": ("著作权人",),
    "guardian": ("监护人",),
    "natural_person": ("自然人",),
    "legal_person": ("法人",),
    "unincorporated_org": ("非法人组织",),
    "contract_seller": ("出卖人",),
    "buyer": ("买受人",),
    "creditor": ("债权人",),
    "debtor": ("债务人",),
    "carrier": ("承运人",),
    "shipper": ("托运人",),
    "employer": ("用人单位",),
}

# role id -> the wider roles a statement may use for it
ROLE_ANCESTORS: dict[str, frozenset[str]] = {
    "network_service_provider": frozenset({"provider"}),
    "platform_operator": frozenset({"platform", "ecommerce_operator", "operator"}),
    "in_platform_operator": frozenset({"ecommerce_operator", "operator"}),
    "ecommerce_operator": frozenset({"operator"}),
    "network_user": frozenset({"user"}),
    "copyright_owner": frozenset({"rights_holder"}),
    "zhipu": frozenset({"platform", "provider"}),
    "network_operator": frozenset({"runner"}),
    "pi_handler": frozenset(),
}

# Compounds that contain a role word but name something else (a document, the data not the person).
NOT_ROLES = (
    "用户协议",
    "个人独资",
    "个人信息",
    "个人隐私",
    "个人权益",
    "个人所得",
    "消费者权益保护法",
    "消费者协会",
    "消费者组织",
    "平台规则",
)

MODALITY_WORDS: dict[str, tuple[str, ...]] = {
    "obligation": ("应当", "必须", "应予", "应", "须"),
    "permission": ("可以", "有权利", "有权", "允许", "可"),
    "prohibition": ("不得", "禁止", "严禁", "不应当", "不应", "不可以", "不准"),
    "exemption": ("无须", "无需", "不必", "不需要", "不用"),
    "no_right": ("无权", "没有权利"),
}
# modal words that are not modal after / before these characters (相应, 许可, 须知, 所有权 …)
MODALITY_GUARDS: dict[str, tuple[str, str]] = {
    "应": ("相供适反响对回效答感呼理", "用急对收变聘"),
    "须": ("", "知"),
    "有权": ("所享", ""),
    "有权利": ("所享", ""),
}

# A lone 可 is modal only before these (可向客服咨询, 可依法 …), not in 可跟踪, 可识别, 可能 …
KE_MODAL_BEFORE = "向依由在按以请要申通自予对于从"

# Characters that negate what follows them (within two characters), and words where they do not.
NEGATORS = "不未没无非勿"
NOT_NEGATIONS = ("无论", "不论", "不仅", "不但", "不断", "非常", "不久", "没收")

# Bound words around a number: the direction of the limit they set.
UPPER_BOUNDS_BEFORE = ("不超过", "不足", "不满", "低于", "少于", "不高于", "最高", "最多")
LOWER_BOUNDS_BEFORE = ("不少于", "不低于", "超过", "高于", "多于", "至少", "最低", "满")
UPPER_BOUNDS_AFTER = ("以下", "以内", "之内", "内")
LOWER_BOUNDS_AFTER = ("以上",)

# unit as written -> unit compared (日 == 天, 个月 == 月, 周岁 == 岁)
UNITS: dict[str, str] = {
    "个工作日": "工作日",
    "工作日": "工作日",
    "个小时": "小时",
    "小时": "小时",
    "分钟": "分钟",
    "个月": "月",
    "月": "月",
    "周岁": "岁",
    "岁": "岁",
    "年": "年",
    "日": "日",
    "天": "日",
    "倍": "倍",
    "元": "元",
    "%": "%",
    "％": "%",
    "人": "人",
    "次": "次",
}

# Single characters that carry no content of their own (男, 女, 书 do: 男不得早于二十二周岁).
ALIGN_FUNCTION_CHARS = frozenset(
    "向对由被在为以于与及或并其该等所应可须不未无非是有和就也都还将把从后前中上下内外之已再由即则但而如若且使"
)

# Words too common in legal text to align a statement clause with a passage clause.
ALIGN_STOPWORDS = frozenset(
    "或者 以及 并且 其他 有关 相关 依照 按照 根据 依据 规定 本法 前款 下列 情形 之一 进行 对于 应当 可以".split()
)


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


ROLE_OF: dict[str, str] = {w: role for role, words in ROLE_WORDS.items() for w in words}
ROLE_RE = re.compile(_alternation([*ROLE_OF, *NOT_ROLES]))
MODALITY_OF: dict[str, str] = {w: cls for cls, words in MODALITY_WORDS.items() for w in words}
MODALITY_RE = re.compile(_alternation(list(MODALITY_OF)))


def role_supported(claimed: str, present: set[str]) -> bool:
    """A claimed role is backed by the same role or by a narrower one it generalises."""
    return claimed in present or any(claimed in ROLE_ANCESTORS.get(p, ()) for p in present)
