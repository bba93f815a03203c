"""``conversation.echo``: answers with the text of the messages it was sent (Dapr's test component)."""

from __future__ import annotations

from dapr_components.spec import Component
from sidecar.components.conversation import ChatChoice, ChatRequest, ChatResult, ChatUsage, ConversationComponent


class EchoConversation(ConversationComponent):
    def __init__(self, component: Component) -> None:
        super().__init__(component, default_model="echo")

    async def complete(self, request: ChatRequest) -> ChatResult:
        texts = [m["content"] for m in request.messages if isinstance(m.get("content"), str) and m["content"]]
        content = "\n".join(texts)
        words = sum(len(t.split()) for t in texts)
        usage = ChatUsage(prompt_tokens=words, completion_tokens=words, total_tokens=2 * words)
        return ChatResult(choices=[ChatChoice(0, "stop", content)], model=self.model, usage=usage)
