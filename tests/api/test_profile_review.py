"""An analyst's false-positive review (PATCH /threats/{id}) teaches the site's profile."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.factories import event_row, insert_events
from vigil.db.session import get_db_context
from vigil.detect.profile import ProfileJudge, SiteProfile
from vigil.services.profiles import get_profile, save_profile
from vigil.simulate.scenarios import to_records
from vigil.simulate.site import site_day

PATH = "/tienda/publico/autenticar.jsp"
QUERY = "modo=entrar&login=ana1&pwd=Xy7pQ2rTz&sso=1&remember=on&B1=Entrar"


async def test_false_positive_review_teaches_the_stored_profile(api: Api) -> None:
    profile = SiteProfile("alpha")
    profile.learn_records(to_records(site_day(4000, day_seed=21)))
    profile.trained = True
    async with get_db_context() as session:
        await save_profile(session, profile)
    before = ProfileJudge(profile).judge_request("GET", PATH, QUERY)
    assert before.score >= 0.5 and "parameter `sso` never seen" in before.reasons[0]

    [true_id, false_id] = await insert_events(
        [event_row(site="alpha", path=PATH, query=QUERY) for _ in range(2)]
    )
    headers = await api.key("write")
    response = await api.client.patch(
        f"/threats/{true_id}", json={"label": "true_positive"}, headers=headers
    )
    assert response.status_code == 200
    async with get_db_context() as session:
        unchanged = await get_profile(session, "alpha")
    assert unchanged is not None
    assert ProfileJudge(unchanged).judge_request("GET", PATH, QUERY).score >= 0.5

    response = await api.client.patch(
        f"/threats/{false_id}", json={"label": "false_positive", "note": "new SSO"}, headers=headers
    )
    assert response.status_code == 200, response.text
    async with get_db_context() as session:
        taught = await get_profile(session, "alpha")
    assert taught is not None
    assert ProfileJudge(taught).judge_request("GET", PATH, QUERY).score < 0.5
