"""The not-legal-advice warning, attached by code outside any model.

The corpus paper (4.2.2 警示说明缺陷) argues that omitting such a warning is a
product defect.  Nothing a user or a model writes can change or drop it: the
``Answer`` type refuses to exist without it.
"""

WARNING_CORE = "仅供参考，不构成法律意见"

WARNING = (
    "⚠️ 本回答仅供参考，不构成法律意见。回答由程序从所列法律条文和资料中摘引生成，"
    "可能不完整或不适用于您的具体情况；请核对所引原文，重要事项请咨询执业律师。"
)

WARNING_EN = "For reference only; this is not legal advice."
