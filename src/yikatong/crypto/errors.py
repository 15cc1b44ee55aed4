"""Errors of the crypto package. None of them ever carries key bytes in its message or details."""

from __future__ import annotations

from yikatong.core.errors import DomainError, InvalidInput


class UnknownAlgorithm(DomainError):
    code = "crypto_unknown_algorithm"
    zh = "不支持的算法标识：{alg_id}"
    en = "Unsupported algorithm identifier: {alg_id}"


class KeyNotFound(DomainError):
    code = "crypto_key_not_found"
    http_status = 404
    zh = "密钥不存在：用途 {purpose}，算法 {algorithm}，版本 {version}"
    en = "No key for purpose {purpose}, algorithm {algorithm}, version {version}"


class KeyStoreLocked(DomainError):
    code = "crypto_key_store_locked"
    http_status = 503
    zh = "密钥库无法打开：{reason_zh}"
    en = "The key store cannot be opened: {reason_en}"


class KeyUnusable(DomainError):
    """The key exists but its status forbids this use (a revoked key never computes anything)."""

    code = "crypto_key_unusable"
    http_status = 409
    zh = "密钥状态为 {status}，不能使用：用途 {purpose}，版本 {version}"
    en = "Key is {status} and cannot be used: purpose {purpose}, version {version}"


class InvalidSm2Key(InvalidInput):
    code = "crypto_invalid_sm2_key"


class InvalidSm2Signature(InvalidInput):
    code = "crypto_invalid_sm2_signature"
