import { Container } from 'inversify';
import {
  ConfigError,
  Slots,
  type AnySlot,
  type ComponentDefinition,
  type Registrar,
  type Slot,
} from '@bt-platform/sdk';

export interface RegisteredComponent {
  slot: AnySlot;
  definition: ComponentDefinition<unknown>;
  plugin: string;
}

/**
 * The catalogue of components every loaded plugin registered, by slot and name. A duplicate
 * name in a slot is an error naming both plugins.
 */
export class Registry {
  private readonly bySlot = new Map<string, Map<string, RegisteredComponent>>();

  registrarFor(plugin: string): Registrar {
    return {
      component: (slot, definition) => {
        const names = this.bySlot.get(slot.key) ?? new Map<string, RegisteredComponent>();
        this.bySlot.set(slot.key, names);
        const existing = names.get(definition.name);
        if (existing) {
          throw new ConfigError('PLUGIN_DUPLICATE', `Plugins "${existing.plugin}" and "${plugin}" both register a ${slot.key} named "${definition.name}".`, {
            hint: `Rename the component in one of the plugins, or remove one plugin from the config's \`plugins\` list.`,
          });
        }
        names.set(definition.name, { slot: slot as AnySlot, definition: definition as ComponentDefinition<unknown>, plugin });
      },
    };
  }

  names(slot: Slot<unknown>): string[] {
    return [...(this.bySlot.get(slot.key)?.keys() ?? [])].sort();
  }

  find(slot: Slot<unknown>, name: string): RegisteredComponent | undefined {
    return this.bySlot.get(slot.key)?.get(name);
  }

  all(): RegisteredComponent[] {
    return Object.values(Slots).flatMap((slot) => [...(this.bySlot.get(slot.key)?.values() ?? [])]);
  }
}

/** The DI container of one run: one binding per selected component, created on first request. */
export function createContainer(): Container {
  return new Container({ defaultScope: 'Singleton' });
}
