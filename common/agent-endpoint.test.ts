import {
  expandAgentTemplate,
  InvalidAgentTemplateError,
  isAgentTemplate,
  needsNodeIP,
} from './agent-endpoint.js';

describe('expandAgentTemplate', () => {
  test('given a template with both placeholders, should substitute the name and the InternalIP', () => {
    expect(
      expandAgentTemplate('https://{node}.agents/{nodeIP}:9443', { name: 'n1', internalIP: '10.0.0.1' }),
    ).toBe('https://n1.agents/10.0.0.1:9443');
  });

  test('given {node} only, should need no InternalIP', () => {
    expect(expandAgentTemplate('agent-{node}.svc:9443', { name: 'n1' })).toBe('agent-n1.svc:9443');
  });

  test('given {nodeIP} and a node without an InternalIP, should give undefined', () => {
    expect(expandAgentTemplate('{nodeIP}:9443', { name: 'n1' })).toBeUndefined();
    expect(expandAgentTemplate('{node}-{nodeIP}:9443', { name: 'n1', internalIP: '' })).toBeUndefined();
  });

  test('given a template without a placeholder, should throw an InvalidAgentTemplateError', () => {
    expect(() => expandAgentTemplate('agents:9443', { name: 'n1' })).toThrow(InvalidAgentTemplateError);
    expect(() => expandAgentTemplate('{nodeip}:9443', { name: 'n1' })).toThrow(
      'agent endpoint template "{nodeip}:9443" contains neither {node} nor {nodeIP}',
    );
  });
});

test('isAgentTemplate and needsNodeIP should read the placeholders', () => {
  expect([isAgentTemplate('{node}:1'), isAgentTemplate('{nodeIP}:1'), isAgentTemplate('host:1')]).toEqual([
    true,
    true,
    false,
  ]);
  expect([needsNodeIP('{nodeIP}:1'), needsNodeIP('{node}:1')]).toEqual([true, false]);
});
