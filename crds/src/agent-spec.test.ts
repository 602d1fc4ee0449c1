import { describe, expect, it } from '@jest/globals';
import { AgentSpecSchema, agentFields, agentPodFields } from './agent-spec.ts';
import { ClaudeTaskSpecSchema } from './claude-task.ts';

describe('AgentSpecSchema', () => {
  it('is the agent part of the ClaudeTask spec: every agent field, the same schema', () => {
    const agentNames = Object.keys(AgentSpecSchema.shape);
    expect(agentNames).toEqual([...Object.keys(agentFields), ...Object.keys(agentPodFields)]);
    for (const name of agentNames) {
      expect(ClaudeTaskSpecSchema.shape[name as keyof typeof ClaudeTaskSpecSchema.shape]).toBe(AgentSpecSchema.shape[name as keyof typeof AgentSpecSchema.shape]);
    }
  });

  it('leaves the task\'s own fields to the task', () => {
    const taskOnly = Object.keys(ClaudeTaskSpecSchema.shape).filter((name) => !(name in AgentSpecSchema.shape));
    expect(taskOnly).toEqual(['prompt', 'templateRef', 'variables', 'timeoutSeconds', 'retries', 'priority', 'ttlSecondsAfterFinished', 'notify', 'cancel']);
  });

  it('checks what the task checks', () => {
    expect(AgentSpecSchema.safeParse({ model: 'claude-opus-5-5', permissionMode: 'acceptEdits', runtimeClassName: 'gvisor' }).success).toBe(true);
    expect(AgentSpecSchema.safeParse({ permissionMode: 'yolo' }).success).toBe(false);
    expect(AgentSpecSchema.safeParse({ allowedTools: ['--dangerously-skip-permissions'] }).success).toBe(false);
  });
});
