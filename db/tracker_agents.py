"""Agent configs: the one a job uses, switching the active one of a role, and the defaults a fresh install gets.

One config per role is active (a unique partial index): activating one deactivates the other in the same
transaction, deactivation first, so the index never sees two.
"""

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import AgentConfig, AgentRole
from db.tracker_knowledge import active_config

# What a fresh install starts with, one per role, so extraction, analysis runs and experiments work before anyone
# has written a prompt. Edited through /api/v1/agents; never overwritten once a role has any config.
DEFAULT_PROMPTS: dict[AgentRole, tuple[str, str]] = {
    AgentRole.knowledge_extractor: (
        "Default knowledge extractor",
        "You read a team's Telegram messages and extract what is worth remembering. Group the messages into "
        "topics (short, reusable names such as 'Billing deploys') and, for each topic, the knowledge atoms they "
        "hold: problems, solutions, decisions, questions, insights, patterns and requirements. Give each atom a "
        "short title, a self-contained content, your confidence from 0 to 1 and the numbers of the messages it "
        "comes from. Leave greetings and chatter out.",
    ),
    AgentRole.proposal_generator: (
        "Default proposal generator",
        "You read a team's Telegram messages and propose the tasks they ask for or imply: a bug to fix, a "
        "request someone made, a decision that needs follow-up. Each task gets a short imperative title, a "
        "description a person can act on, a priority (low, medium, high, urgent), your confidence from 0 to 1 "
        "that it is a real task, and the numbers of the messages it comes from. Use the known context to "
        "understand the messages. Propose nothing for chatter, and never the same task twice.",
    ),
    AgentRole.topic_classifier: (
        "Default topic classifier",
        "You classify a team's Telegram messages into known topics. For each numbered message answer the name "
        "of the one listed topic it belongs to, spelled exactly as listed. Choose the closest topic even when "
        "the message fits none perfectly.",
    ),
}


async def config_for(session: AsyncSession, config_id: int | None, role: AgentRole) -> AgentConfig | None:
    """The config a job names, or the role's active one when it names none."""
    if config_id is not None:
        return await session.get(AgentConfig, config_id)
    return await active_config(session, role)


async def deactivate_others(session: AsyncSession, config: AgentConfig) -> None:
    """Before `config` becomes active: the role's other active config is switched off, on the caller's
    transaction."""
    others = [AgentConfig.role == config.role, AgentConfig.active]
    if config.id is not None:  # a new config has no id yet: every active one of its role is another
        others.append(AgentConfig.id != config.id)
    await session.execute(
        update(AgentConfig).where(*others).values(active=False).execution_options(synchronize_session="fetch")
    )


async def ensure_defaults(session: AsyncSession) -> list[str]:
    """A default config for every role that has none at all; answers the names created. The caller commits."""
    roles = set(await session.scalars(select(AgentConfig.role).distinct()))
    created = []
    for role, (name, prompt) in DEFAULT_PROMPTS.items():
        if role.value in roles:
            continue
        session.add(AgentConfig(name=name, role=role.value, model="", system_prompt=prompt, active=True))
        created.append(name)
    return created
