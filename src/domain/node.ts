import type { Node } from "../contract/schemas.ts";
import { notFound } from "../contract/errors.ts";
import type { CommandMetadata, Decider } from "./decider.ts";
import type { NodeEvent } from "./events.ts";

export type NodeState = Node | null;

/** A node joins on its first heartbeat (the node agent); an operator removes it. */
export type JoinNode = { type: "JoinNode"; data: { node: Node; reason: string }; metadata: CommandMetadata };
export type RemoveNode = { type: "RemoveNode"; data: { id: string; reason: string }; metadata: CommandMetadata };
export type NodeCommand = JoinNode | RemoveNode;

export const nodeDecider: Decider<NodeState, NodeCommand, NodeEvent> = {
  initialState: () => null,

  decide(command, state) {
    switch (command.type) {
      case "JoinNode":
        if (state !== null) return [];
        return [{ type: "NodeJoined", data: { node: command.data.node, reason: command.data.reason } }];
      case "RemoveNode":
        if (state === null) throw notFound(`node "${command.data.id}" not found; list them with registry.node.list`);
        return [{ type: "NodeRemoved", data: { id: state.id, url: state.url, reason: command.data.reason } }];
    }
  },

  evolve(_state, event) {
    switch (event.type) {
      case "NodeJoined":
        return event.data.node;
      case "NodeRemoved":
        return null;
    }
  },
};
