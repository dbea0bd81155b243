/**
 * Decides what saving and removing a definition writes: a definition deploys from exactly
 * one source, an unchanged save writes nothing, and removing one that is not there is 404.
 */
import type { Definition } from "../contract/schemas.ts";
import { badRequest, definitionNotFound } from "../contract/errors.ts";
import { sameJson, unhandled, type CommandMetadata, type Decider } from "./decider.ts";
import { EVENT_TYPES, type DefinitionEvent } from "./events.ts";

export type DefinitionState = Definition | null;

export type SaveDefinition = { type: "SaveDefinition"; data: { definition: Definition }; metadata: CommandMetadata };
export type RemoveDefinition = { type: "RemoveDefinition"; data: { id: string }; metadata: CommandMetadata };
export type DefinitionCommand = SaveDefinition | RemoveDefinition;

/** The rule the schema cannot say: a definition deploys from exactly one source. */
function assertOneSource(definition: Definition): void {
  const sources = [definition.image, definition.repository].filter((s) => s !== undefined).length;
  if (sources !== 1) {
    const message = sources === 0 ? "needs an image or a repository" : "has both image and repository; keep one";
    throw badRequest(`invalid definition "${definition.id}": it ${message}`, [{ path: "/definition", message }]);
  }
}

/** A soft round-trip bound beyond the hard one could never be met. */
function assertRttBounds(definition: Definition): void {
  const { softRttMs, hardRttMs } = definition.requirements ?? {};
  if (softRttMs !== undefined && hardRttMs !== undefined && softRttMs > hardRttMs) {
    const message = `softRttMs (${softRttMs}) must not be more than hardRttMs (${hardRttMs})`;
    throw badRequest(`invalid definition "${definition.id}": ${message}`, [{ path: "/definition/requirements/softRttMs", message }]);
  }
}

export const definitionDecider: Decider<DefinitionState, DefinitionCommand, DefinitionEvent> = {
  eventTypes: EVENT_TYPES.definition,
  initialState: () => null,

  decide(command, state) {
    switch (command.type) {
      case "SaveDefinition": {
        const { definition } = command.data;
        assertOneSource(definition);
        assertRttBounds(definition);
        if (sameJson(state, definition)) return [];
        return [{ type: "DefinitionSaved", data: { definition } }];
      }
      case "RemoveDefinition":
        if (state === null) throw definitionNotFound(command.data.id);
        return [{ type: "DefinitionRemoved", data: { id: command.data.id } }];
      default:
        return unhandled(command);
    }
  },

  evolve(_state, event) {
    switch (event.type) {
      case "DefinitionSaved":
        return event.data.definition;
      case "DefinitionRemoved":
        return null;
      default:
        return unhandled(event);
    }
  },
};
