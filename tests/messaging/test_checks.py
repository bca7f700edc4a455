from django.test import override_settings

from messaging.checks import q_cluster_retry_longer_than_timeout


def test_q_cluster_with_retry_longer_than_timeout_passes():
    with override_settings(Q_CLUSTER={"timeout": 60, "retry": 90}):
        assert q_cluster_retry_longer_than_timeout(None) == []


def test_q_cluster_with_retry_not_longer_than_timeout_is_refused():
    with override_settings(Q_CLUSTER={"timeout": 60, "retry": 60}):
        errors = q_cluster_retry_longer_than_timeout(None)
    assert [error.id for error in errors] == ["messaging.E001"]


def test_q_cluster_without_retry_is_refused():
    with override_settings(Q_CLUSTER={"timeout": 60}):
        assert q_cluster_retry_longer_than_timeout(None)[0].id == "messaging.E001"
