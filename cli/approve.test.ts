import { checkWorkflowId, operatorName, refusal } from './approve.js';
import { UserError } from './errors.js';

const ID = 'salvage/sha256:ab/node-2';

describe('checkWorkflowId', () => {
  test('given an id with blanks around it (pasted), should trim it', () => {
    expect(checkWorkflowId(`  ${ID}\n`)).toBe(ID);
  });
  test('given nothing, should say where to find ids', () => {
    expect(() => checkWorkflowId(' ')).toThrow(UserError);
    expect(() => checkWorkflowId(' ')).toThrow('tote status');
  });
});

describe('refusal', () => {
  test('given a running salvage waiting for approval, should allow the decision', () => {
    expect(
      refusal({ type: 'salvageImage', status: 'RUNNING', phase: 'AwaitingApproval' }, ID, 'approve'),
    ).toBeUndefined();
  });

  test('given a salvage still detecting, should allow it (the signal waits for the workflow)', () => {
    expect(
      refusal({ type: 'salvageImage', status: 'RUNNING', phase: 'Detecting' }, ID, 'reject'),
    ).toBeUndefined();
  });

  test('given another workflow type, should name it', () => {
    expect(refusal({ type: 'cleanupCorruptImage', status: 'RUNNING' }, ID, 'approve')).toBe(
      `workflow ${ID} is a cleanupCorruptImage, not a salvage; only salvageImage waits for approval`,
    );
  });

  test('given a finished salvage, should say it is over', () => {
    expect(
      refusal({ type: 'salvageImage', status: 'TIMED_OUT', phase: 'ApprovalTimedOut' }, ID, 'approve'),
    ).toBe(`salvage ${ID} is timed out: there is nothing to approve (see "tote status")`);
  });

  test('given a salvage past the approval step, should say it is not waiting', () => {
    expect(
      refusal({ type: 'salvageImage', status: 'RUNNING', phase: 'Transferring' }, ID, 'reject'),
    ).toContain('not waiting for approval (phase Transferring)');
  });
});

test('operatorName says who and where', () => {
  expect(operatorName()).toMatch(/^.+@.+$/);
});
